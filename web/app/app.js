// The meeting app's entry: picks the screen from the URL and moves between them
// (landing → pre-join → meeting → left).

import { roomDoor } from './account-api.js';
import { renderAccount } from './account.js';
import { ROOM_NAME_PATTERN, serverInfo, tokenClaims } from './api.js';
import { h } from './dom.js';
import { renderLanding } from './landing.js';
import { enterMeeting } from './meeting.js';
import { renderPrejoin } from './prejoin.js';

/** @typedef {import('./prejoin.js').JoinChoice} JoinChoice */
/** @typedef {import('./meeting.js').MeetingEnd} MeetingEnd */

/** Sentences for the error codes a user can meet when joining or being cut off. */
const ERROR_TEXT = /** @type {Record<string, string>} */ ({
  invalid_token: 'The invitation link is not valid. Ask the host for a new one.',
  token_expired: 'The invitation link has expired. Ask the host for a new one.',
  permission_denied: 'Your invitation does not allow joining this meeting.',
  replaced: 'You joined this meeting from another window or device.',
  removed: 'A host removed you from the meeting.',
  banned: 'A host removed you from this meeting; you cannot join it again.',
  meeting_ended: 'A host ended the meeting for everyone.',
  connection_failed: 'Could not reach the meeting server. Check your connection and try again.',
  server_busy: 'The server is busy right now. Try again in a moment.',
  room_locked: 'The meeting is locked. Ask a host to unlock it.',
  room_full: 'The meeting is full.',
  rejected: 'A host did not let you into the meeting.',
});

/** Ends after which joining again with the same link cannot work: no "Rejoin" then. */
const FINAL_CODES = new Set(['banned', 'meeting_ended', 'invalid_token', 'token_expired', 'permission_denied', 'wrong_room']);

const root = /** @type {HTMLElement} */ (document.getElementById('app'));

/** @param {string} view */
function setView(view) {
  document.body.dataset.view = view;
}

async function main() {
  const info = await serverInfo().catch(() => null);
  if (location.pathname === '/account') {
    setView('landing');
    document.title = 'Your account · Moim';
    await renderAccount(root);
    return;
  }
  const match = /^\/r\/([^/]+)\/?$/.exec(location.pathname);
  if (!match) {
    setView('landing');
    renderLanding(root, info);
    return;
  }
  const room = decodeURIComponent(match[1]);
  if (!ROOM_NAME_PATTERN.test(room)) {
    showNoSuchMeeting(room);
    return;
  }
  document.title = `${room} · Moim`;
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  // A room someone owns on this server: the server says what joining asks and mints the
  // token (development mode mints its own).
  const door = token || info?.devMode ? null : await roomDoor(room).catch(() => null);
  const name = door?.name ?? params.get('name') ?? localStorage.getItem('moim.name') ?? '';
  showPrejoin(room, token, name, info, params.get('host') === '1', door);
}

/**
 * @param {string} room
 * @param {string | null} token
 * @param {string} name
 * @param {import('./api.js').ServerInfo | null} info
 * @param {boolean} asHost the link asks to start the meeting as its host (development mode)
 * @param {import('./account-api.js').Door | null} door what an owned room's link asks
 */
function showPrejoin(room, token, name, info, asHost, door) {
  setView('prejoin');
  renderPrejoin(root, {
    room,
    token,
    name,
    info,
    asHost,
    door,
    onJoin: async (choice) => {
      try {
        await startMeeting(room, choice, info);
      } catch (err) {
        const code = /** @type {{ code?: string }} */ (err).code;
        throw new Error((code && ERROR_TEXT[code]) || (err instanceof Error ? err.message : String(err)));
      }
    },
  });
}

/**
 * @param {string} room
 * @param {JoinChoice} choice
 * @param {import('./api.js').ServerInfo | null} info
 */
async function startMeeting(room, choice, info) {
  await enterMeeting(root, {
    room,
    choice,
    onEnd: (end) => showEnded(room, choice, info, end),
  });
  setView('meeting');
}

/**
 * @param {string} room
 * @param {JoinChoice} choice
 * @param {import('./api.js').ServerInfo | null} info
 * @param {MeetingEnd} end
 */
function showEnded(room, choice, info, end) {
  setView('left');
  const title = end.kind === 'left' ? 'You left the meeting' : 'The meeting connection ended';
  const detail =
    end.kind === 'left'
      ? null
      : (end.error && (ERROR_TEXT[end.error.code] ?? end.error.message)) || 'The connection to the server was lost.';
  const error = h('p', { class: 'form-error', role: 'alert' });
  const expires = tokenClaims(choice.token)?.exp;
  const final = (end.kind === 'ended' && end.error !== null && FINAL_CODES.has(end.error.code)) ||
    (expires !== undefined && expires * 1000 <= Date.now());
  const rejoin = final ? null : h(
    'button',
    {
      class: 'button primary large',
      type: 'button',
      onclick: async () => {
        const button = /** @type {HTMLButtonElement} */ (rejoin);
        button.disabled = true;
        error.textContent = '';
        try {
          const devices = await reopenDevices(choice);
          await startMeeting(room, { ...choice, ...devices }, info);
        } catch (err) {
          button.disabled = false;
          error.textContent = err instanceof Error ? err.message : String(err);
        }
      },
    },
    'Rejoin',
  );
  root.replaceChildren(
    h(
      'div',
      { class: 'ended' },
      h(
        'div',
        { class: 'card' },
        h('h1', {}, title),
        detail ? h('p', { class: 'lead' }, detail) : null,
        h('p', { class: 'room-name' }, room),
        rejoin,
        h('a', { class: rejoin ? 'button' : 'button primary large', href: '/' }, 'Back to home'),
        error,
      ),
    ),
  );
}

/**
 * A link whose room name no meeting can have: said at once, before any device opens.
 * @param {string} room
 */
function showNoSuchMeeting(room) {
  setView('left');
  root.replaceChildren(
    h('div', { class: 'ended' },
      h('div', { class: 'card' },
        h('h1', {}, 'This is not a meeting link'),
        h('p', { class: 'lead' }, `“${room}” is not a meeting name: names are letters, digits, “-”, “_” and “.”.`),
        h('a', { class: 'button primary large', href: '/' }, 'Back to home'))),
  );
}

/**
 * Opens the same devices again (the meeting stopped them when it ended).
 * @param {JoinChoice} choice
 * @returns {Promise<{ camera: MediaStreamTrack | null, microphone: MediaStreamTrack | null }>}
 */
async function reopenDevices(choice) {
  /** @param {MediaStreamTrack | null} old @param {'audio' | 'video'} kind */
  const reopen = async (old, kind) => {
    if (!old) return null;
    const deviceId = old.getSettings().deviceId;
    const constraints = deviceId ? { deviceId: { ideal: deviceId } } : true;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ [kind]: constraints });
      return stream.getTracks()[0] ?? null;
    } catch {
      return null;
    }
  };
  return {
    camera: await reopen(choice.camera, 'video'),
    microphone: await reopen(choice.microphone, 'audio'),
  };
}

main();
