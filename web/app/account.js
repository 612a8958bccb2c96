// The account page (`/account`): sign in or make an account; once signed in, "My rooms"
// with a form for a new one, the profile and picture, the password, signing out; for
// admins, the users and invitations.

import * as api from './account-api.js';
import { h } from './dom.js';

/** @typedef {import('./account-api.js').User} User */

/**
 * @param {HTMLElement} root
 */
export async function renderAccount(root) {
  const params = new URLSearchParams(location.search);
  const user = await api.currentUser();
  if (user) {
    renderSignedIn(root, user);
  } else {
    const { signup, oidc } = await api.accountOptions();
    renderSignIn(root, signup, oidc ?? null, params.get('invite'), safeNext(params.get('next')), params.get('error'));
  }
}

/**
 * Where to go after signing in: a path on this server only (`/`, then URL-safe characters:
 * no `\`, no `//`, nothing a browser would read as another site).
 * @param {string | null} next
 */
function safeNext(next) {
  return next && /^\/(?!\/)[A-Za-z0-9/_.~?=&%-]*$/.test(next) ? next : '/account';
}

/**
 * @param {HTMLElement} root
 * @param {'open' | 'invite' | 'off'} signup
 * @param {string | null} oidc the identity provider's name, when people sign in there
 * @param {string | null} inviteCode
 * @param {string} next
 * @param {string | null} failed why a sign-in through the identity provider failed
 */
function renderSignIn(root, signup, oidc, inviteCode, next, failed) {
  const email = h('input', { id: 'signin-email', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', { id: 'signin-password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'form-error', role: 'alert', id: 'signin-error' }, failed ?? '');
  const sso = oidc
    ? h('a', { class: 'button large', id: 'signin-oidc', href: `/api/account/oidc/start?next=${encodeURIComponent(next)}` }, `Sign in with ${oidc}`)
    : null;
  const signInForm = form(
    'Sign in',
    async () => {
      await api.signIn(email.value, password.value);
      location.assign(next);
    },
    error,
    field('Email', email),
    field('Password', password),
    h('button', { class: 'button primary large', type: 'submit', id: 'signin' }, 'Sign in'),
    sso,
    error,
  );
  let signUpForm = null;
  if (inviteCode || signup === 'open') {
    const newEmail = h('input', { id: 'signup-email', type: 'email', autocomplete: 'username', required: !inviteCode });
    const name = h('input', { id: 'signup-name', type: 'text', autocomplete: 'name', maxlength: 64, required: true });
    const newPassword = h('input', { id: 'signup-password', type: 'password', autocomplete: 'new-password', minlength: 8, required: true });
    const signUpError = h('p', { class: 'form-error', role: 'alert', id: 'signup-error' });
    signUpForm = form(
      inviteCode ? 'You are invited: make your account' : 'Make an account',
      async () => {
        await api.signUp({
          email: inviteCode ? undefined : newEmail.value,
          name: name.value,
          password: newPassword.value,
          invite: inviteCode ?? undefined,
        });
        location.assign(next === '/account' ? '/account' : next);
      },
      signUpError,
      inviteCode ? null : field('Email', newEmail),
      field('Your name', name),
      field('Password (8 characters or more)', newPassword),
      h('button', { class: 'button large', type: 'submit', id: 'signup' }, 'Make account'),
      signUpError,
    );
  }
  root.replaceChildren(page(null, h('div', { class: 'account-columns' }, signInForm, signUpForm)));
}

/**
 * @param {HTMLElement} root
 * @param {User} user
 */
function renderSignedIn(root, user) {
  const rooms = h('ul', { class: 'owned-rooms', id: 'my-rooms' });
  const refreshRooms = async () => {
    const { rooms: list } = await api.myRooms();
    rooms.replaceChildren(...list.map((room) => roomItem(room, refreshRooms)));
    if (list.length === 0) rooms.append(h('li', { class: 'hint' }, 'No rooms yet: make one below.'));
  };
  const sections = [
    section('My rooms', rooms, newRoomForm(refreshRooms)),
    section('Profile', profileForm(user)),
    section('Password', passwordForm()),
    user.admin ? section('Users', ...usersPanel(user)) : null,
  ];
  const signOut = h('button', { class: 'button', type: 'button', id: 'sign-out', onclick: async () => { await api.signOut(); location.assign('/account'); } }, 'Sign out');
  const everywhere = h('button', { class: 'button', type: 'button', id: 'sign-out-everywhere', onclick: async () => { await api.signOutEverywhere(); location.assign('/account'); } }, 'Sign out everywhere');
  const who = h(
    'div',
    { class: 'who row' },
    h('img', { class: 'avatar-small', alt: '', src: `/api/users/${user.id}/avatar`, onerror: (/** @type {Event} */ ev) => { /** @type {HTMLElement} */ (ev.target).hidden = true; } }),
    h('span', { id: 'signed-in-as' }, user.name),
    signOut,
    everywhere,
  );
  root.replaceChildren(page(who, ...sections));
  refreshRooms();
}

/**
 * @param {import('./account-api.js').OwnedRoom} room
 * @param {() => Promise<void>} refresh
 */
function roomItem(room, refresh) {
  const url = `${location.origin}${room.link}`;
  const notes = [
    room.participants > 0 ? `${room.participants} in it now: ${room.people.join(', ')}` : 'empty',
    room.owner ? null : 'co-host',
    room.settings.waiting_room ? 'waiting room' : null,
    room.settings.access_code ? 'access code' : null,
    room.settings.guests === false ? 'members only' : null,
  ].filter(Boolean);
  const recordings = h('ul', { class: 'library', hidden: true });
  const showRecordings = async () => {
    recordings.hidden = !recordings.hidden;
    if (!recordings.hidden) await fillLibrary(recordings, room.name);
  };
  return h(
    'li',
    { 'data-room': room.name },
    h('a', { href: room.link, class: 'room-link' }, room.name),
    h('span', { class: 'hint' }, notes.join(' · ')),
    h('div', { class: 'row' },
      h('button', { class: 'button', type: 'button', 'data-action': 'recordings', onclick: showRecordings }, 'Recordings'),
      h('button', { class: 'button', type: 'button', onclick: () => navigator.clipboard?.writeText(url).catch(() => {}) }, 'Copy link'),
      room.owner
        ? h('button', { class: 'button', type: 'button', onclick: async () => { await api.deleteRoom(room.name); await refresh(); } }, 'Delete')
        : null),
    recordings,
  );
}

/**
 * Lists a room's recordings into `list`: each with its files to play or download, and
 * renaming and deleting.
 * @param {HTMLElement} list
 * @param {string} room
 */
async function fillLibrary(list, room) {
  const { recordings, chats } = await api.library(room);
  list.replaceChildren(...recordings.map((rec) => {
    const title = h('input', { type: 'text', value: rec.title, maxlength: 200, 'aria-label': 'Title' });
    const player = h('div', { class: 'player' });
    const minutes = rec.ended_at ? Math.max(1, Math.round((rec.ended_at - rec.started_at) / 60_000)) : null;
    const facts = [
      new Date(rec.started_at).toLocaleString(),
      minutes ? `${minutes} min` : rec.status,
      `${(rec.bytes / 1_048_576).toFixed(1)} MiB`,
    ];
    const files = rec.files.map((f) => {
      const url = api.recordingFileUrl(rec.id, f.file);
      return h('div', { class: 'row file' },
        h('span', {}, f.file),
        f.file.endsWith('.json')
          ? null
          : h('button', {
            class: 'button', type: 'button', 'data-action': 'play',
            onclick: () => {
              const media = h(f.file.endsWith('.ogg') ? 'audio' : 'video', { controls: true, autoplay: true, src: url });
              player.replaceChildren(media);
            },
          }, 'Play'),
        h('a', { class: 'button', href: url, download: f.file }, 'Download'));
    });
    return h('li', { 'data-recording': rec.id },
      h('div', { class: 'row' },
        title,
        h('button', { class: 'button', type: 'button', 'data-action': 'rename', onclick: async () => { await api.renameRecording(rec.id, title.value); } }, 'Rename'),
        h('button', { class: 'button', type: 'button', 'data-action': 'delete', onclick: async () => { await api.deleteRecording(rec.id); await fillLibrary(list, room); } }, 'Delete')),
      h('span', { class: 'hint' }, facts.join(' · ')),
      ...files,
      player);
  }));
  for (const chat of chats) {
    list.append(h('li', { 'data-chat': chat.id },
      h('div', { class: 'row' },
        h('span', {}, `Chat of the meeting that ended ${new Date(chat.ended_at).toLocaleString()}`),
        h('a', { class: 'button', href: `/api/account/chats/${encodeURIComponent(chat.id)}`, download: '' }, 'Download'),
        h('button', { class: 'button', type: 'button', 'data-action': 'delete-chat', onclick: async () => { await api.deleteChat(chat.id); await fillLibrary(list, room); } }, 'Delete'))));
  }
  if (recordings.length === 0 && chats.length === 0) list.append(h('li', { class: 'hint' }, 'No recordings yet.'));
}

/** @param {() => Promise<void>} refresh */
function newRoomForm(refresh) {
  const name = h('input', { id: 'room-name', type: 'text', placeholder: 'Leave empty for a made-up name', spellcheck: false });
  const waiting = h('input', { id: 'room-waiting', type: 'checkbox' });
  const guests = h('input', { id: 'room-guests', type: 'checkbox', checked: true });
  const keepChat = h('input', { id: 'room-keep-chat', type: 'checkbox' });
  const code = h('input', { id: 'room-code', type: 'text', maxlength: 64, placeholder: 'None' });
  const hosts = h('input', { id: 'room-hosts', type: 'text', placeholder: 'Emails, separated by commas' });
  const error = h('p', { class: 'form-error', role: 'alert', id: 'room-error' });
  return form(
    'New room',
    async () => {
      await api.createRoom({
        name: name.value.trim() || undefined,
        settings: {
          waiting_room: waiting.checked,
          guests: guests.checked,
          keep_chat: keepChat.checked,
          access_code: code.value.trim() || undefined,
        },
        hosts: hosts.value.split(',').map((e) => e.trim()).filter(Boolean),
      });
      name.value = '';
      await refresh();
    },
    error,
    field('Name', name),
    h('label', { class: 'switch' }, waiting, h('span', {}, 'Waiting room: a host lets people in')),
    h('label', { class: 'switch' }, guests, h('span', {}, 'People without an account may join')),
    h('label', { class: 'switch' }, keepChat, h('span', {}, 'Keep each meeting’s chat in the library')),
    field('Access code', code),
    field('Co-hosts', hosts),
    h('button', { class: 'button primary', type: 'submit', id: 'create-room' }, 'Make room'),
    error,
  );
}

/** @param {User} user */
function profileForm(user) {
  const name = h('input', { id: 'profile-name', type: 'text', maxlength: 64, value: user.name, required: true });
  const picture = h('input', { id: 'avatar-file', type: 'file', accept: 'image/png,image/jpeg,image/webp' });
  const status = h('p', { class: 'notice', role: 'status', id: 'profile-status' });
  const error = h('p', { class: 'form-error', role: 'alert', id: 'profile-error' });
  picture.addEventListener('change', async () => {
    const file = picture.files?.[0];
    if (!file) return;
    error.textContent = '';
    try {
      await api.setAvatar(file);
      status.textContent = 'Picture saved.';
    } catch (err) {
      error.textContent = err instanceof Error ? err.message : String(err);
    }
  });
  return form(
    null,
    async () => {
      await api.rename(name.value);
      status.textContent = 'Name saved.';
    },
    error,
    field('Name', name),
    h('button', { class: 'button', type: 'submit', id: 'save-profile' }, 'Save name'),
    field('Picture (PNG, JPEG or WebP, up to 1 MiB)', picture),
    status,
    error,
  );
}

function passwordForm() {
  const current = h('input', { id: 'password-current', type: 'password', autocomplete: 'current-password', required: true });
  const next = h('input', { id: 'password-new', type: 'password', autocomplete: 'new-password', minlength: 8, required: true });
  const status = h('p', { class: 'notice', role: 'status', id: 'password-status' });
  const error = h('p', { class: 'form-error', role: 'alert', id: 'password-error' });
  return form(
    null,
    async () => {
      await api.changePassword(current.value, next.value);
      current.value = '';
      next.value = '';
      status.textContent = 'Password changed. You were signed out everywhere else.';
    },
    error,
    field('Current password', current),
    field('New password', next),
    h('button', { class: 'button', type: 'submit', id: 'change-password' }, 'Change password'),
    status,
    error,
  );
}

/** @param {User} me */
function usersPanel(me) {
  const table = h('ul', { class: 'users', id: 'users' });
  const refresh = async () => {
    const { users } = await api.listUsers();
    table.replaceChildren(...users.map((user) => h(
      'li',
      { 'data-email': user.email },
      h('span', {}, `${user.name} <${user.email}>`),
      h('span', { class: 'hint' }, [user.admin ? 'admin' : 'user', user.disabled ? 'disabled' : ''].filter(Boolean).join(', ')),
      user.id === me.id
        ? null
        : h('button', {
          class: 'button',
          type: 'button',
          onclick: async () => { await api.updateUser(user.id, { disabled: !user.disabled }); await refresh(); },
        }, user.disabled ? 'Enable' : 'Disable'),
    )));
  };
  const email = h('input', { id: 'invite-email', type: 'email', required: true });
  const link = h('input', { id: 'invite-link', type: 'text', readonly: true, hidden: true });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const inviteForm = form(
    'Invite someone',
    async () => {
      const made = await api.invite(email.value, false);
      link.value = `${location.origin}${made.link}`;
      link.hidden = false;
      link.select();
    },
    error,
    field('Email', email),
    h('button', { class: 'button', type: 'submit', id: 'invite' }, 'Make invitation link'),
    link,
    h('span', { class: 'hint' }, 'Send the link yourself; it works once, for 7 days.'),
    error,
  );
  refresh();
  return [table, inviteForm];
}

/**
 * A form whose submit runs `action`, showing its failure in `error`.
 * @param {string | null} title
 * @param {() => Promise<void>} action
 * @param {HTMLElement} error
 * @param {...(Node | null)} children
 */
function form(title, action, error, ...children) {
  const el = h('form', {
    class: 'card account-form',
    onsubmit: async (/** @type {Event} */ ev) => {
      ev.preventDefault();
      error.textContent = '';
      const button = el.querySelector('button[type=submit]');
      if (button) /** @type {HTMLButtonElement} */ (button).disabled = true;
      try {
        await action();
      } catch (err) {
        error.textContent = err instanceof Error ? err.message : String(err);
      } finally {
        if (button) /** @type {HTMLButtonElement} */ (button).disabled = false;
      }
    },
  }, title ? h('h2', {}, title) : null, ...children);
  return el;
}

/** @param {string} label @param {HTMLElement} input */
function field(label, input) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), input);
}

/** @param {string} title @param {...Node} children */
function section(title, ...children) {
  return h('section', { class: 'account-section' }, h('h1', {}, title), ...children);
}

/** @param {Node | null} who @param {...(Node | null)} children */
function page(who, ...children) {
  return h(
    'div',
    { class: 'landing account' },
    h('header', { class: 'brand' }, h('a', { href: '/', class: 'logo', 'aria-label': 'Moim home' }, 'M'), h('span', {}, 'Moim'), who),
    ...children,
  );
}
