// The landing page: create a meeting (host and guest links) or open an existing one.

import { mintDevToken, randomRoomName, ROOM_NAME_PATTERN } from './api.js';
import { h, icon } from './dom.js';

/**
 * @param {HTMLElement} root
 * @param {import('./api.js').ServerInfo | null} info
 */
export function renderLanding(root, info) {
  const created = h('div', { class: 'created', hidden: true });
  const createError = h('p', { class: 'form-error', role: 'alert' });
  const hostName = h('input', {
    id: 'host-name',
    type: 'text',
    autocomplete: 'name',
    placeholder: 'Your name',
    maxlength: 64,
    value: localStorage.getItem('moim.name') ?? '',
  });

  const createButton = h(
    'button',
    {
      class: 'button primary large',
      type: 'button',
      onclick: async () => {
        createError.textContent = '';
        const room = randomRoomName();
        const guestLink = `${location.origin}/r/${room}`;
        if (!info?.devMode) {
          // Outside development mode, rooms belong to people signed in to the server.
          location.assign('/account');
          return;
        }
        createButton.disabled = true;
        try {
          const name = hostName.value.trim() || 'Host';
          localStorage.setItem('moim.name', hostName.value.trim());
          const { token } = await mintDevToken({ room, name, host: true });
          const hostLink = `${location.origin}/r/${room}?token=${encodeURIComponent(token)}`;
          showCreated(created, room, hostLink, guestLink);
        } catch (err) {
          createError.textContent = err instanceof Error ? err.message : String(err);
        } finally {
          createButton.disabled = false;
        }
      },
    },
    info?.devMode === false ? 'Make a meeting room' : 'Create meeting',
  );

  const roomInput = h('input', {
    id: 'join-room',
    type: 'text',
    placeholder: 'Meeting name or link',
    autocomplete: 'off',
    spellcheck: false,
    required: true,
  });
  const joinError = h('p', { class: 'form-error', role: 'alert' });
  const joinForm = h(
    'form',
    {
      class: 'join-form',
      onsubmit: (ev) => {
        ev.preventDefault();
        const target = meetingFromInput(roomInput.value);
        if (!target) {
          joinError.textContent = 'Enter a meeting name like swift-otter-meadow-42, or paste a meeting link.';
          return;
        }
        location.assign(target);
      },
    },
    h('label', { for: 'join-room', class: 'label' }, 'Have a meeting name or link?'),
    h('div', { class: 'row' }, roomInput, h('button', { class: 'button', type: 'submit' }, 'Open')),
    joinError,
  );

  root.replaceChildren(
    h(
      'div',
      { class: 'landing' },
      h(
        'header',
        { class: 'brand' },
        h('div', { class: 'logo', 'aria-hidden': 'true' }, 'M'),
        h('span', {}, 'Moim'),
        info ? h('span', { class: 'version' }, `v${info.version}`) : null,
        h('a', { class: 'button account-link', href: '/account', id: 'account-link' }, 'Your account'),
      ),
      h(
        'section',
        { class: 'hero' },
        h(
          'div',
          { class: 'intro' },
          h('h1', {}, 'Meet on your own server.'),
          h('p', { class: 'lead' }, 'Video meetings in the browser, nothing to install. Start one and share the link.'),
        ),
        h(
          'div',
          { class: 'card' },
          info?.devMode
            ? h('label', { for: 'host-name', class: 'label' }, 'Your name (as host)')
            : null,
          info?.devMode ? hostName : null,
          createButton,
          createError,
          created,
          h('div', { class: 'divider' }, h('span', {}, 'or')),
          joinForm,
        ),
      ),
    ),
  );
}

/**
 * @param {HTMLElement} box
 * @param {string} room
 * @param {string} hostLink
 * @param {string} guestLink
 */
function showCreated(box, room, hostLink, guestLink) {
  box.hidden = false;
  box.replaceChildren(
    h('p', { class: 'created-title' }, 'Meeting ', h('strong', {}, room), ' is ready.'),
    linkRow('Host link', hostLink, 'Keep this one to yourself: it makes you the host.'),
    linkRow('Guest link', guestLink, 'Share this with everyone you invite.'),
    h('a', { class: 'button primary', href: hostLink, id: 'start-meeting' }, 'Start meeting now'),
  );
}

/**
 * @param {string} label
 * @param {string} url
 * @param {string} hint
 */
function linkRow(label, url, hint) {
  const input = h('input', { type: 'text', readonly: true, value: url, 'aria-label': label });
  const copy = h(
    'button',
    {
      class: 'button icon-button',
      type: 'button',
      title: `Copy ${label.toLowerCase()}`,
      'aria-label': `Copy ${label.toLowerCase()}`,
      onclick: async () => {
        input.select();
        try {
          await navigator.clipboard.writeText(url);
        } catch {
          document.execCommand('copy');
        }
        copy.classList.add('copied');
        setTimeout(() => copy.classList.remove('copied'), 1200);
      },
    },
    icon('copy'),
  );
  return h(
    'div',
    { class: 'link-row' },
    h('span', { class: 'label' }, label),
    h('div', { class: 'row' }, input, copy),
    h('span', { class: 'hint' }, hint),
  );
}

/**
 * The meeting page for a bare room name, or for any link containing `/r/<room>` (with
 * the link's query, e.g. its token); null when it names no valid room.
 * @param {string} text
 * @returns {string | null}
 */
function meetingFromInput(text) {
  const value = text.trim();
  const fromLink = /\/r\/([^/?#]+)(\?[^#]*)?/.exec(value);
  const room = fromLink ? decodeURIComponent(fromLink[1]) : value;
  if (!ROOM_NAME_PATTERN.test(room)) return null;
  // A pasted invitation keeps what it carries (its token, the name to use).
  return `/r/${encodeURIComponent(room)}${fromLink?.[2] ?? ''}`;
}
