// The app's calls to the accounts API (docs/accounts.md): the session is an HttpOnly
// cookie the browser sends by itself; state-changing calls add the session's CSRF token,
// which the server hands out with the account.

/**
 * @typedef {object} User
 * @property {string} id
 * @property {string} email
 * @property {string} name
 * @property {boolean} admin
 * @property {boolean} disabled
 *
 * @typedef {object} RoomDefaults
 * @property {boolean} [waiting_room]
 * @property {boolean} [locked]
 * @property {'meeting' | 'audio'} [mode]
 * @property {boolean} [guests]
 * @property {string} [access_code]
 * @property {'owner' | 'hosts'} [recorders]
 * @property {boolean} [keep_chat]
 *
 * @typedef {object} OwnedRoom
 * @property {string} name
 * @property {string} link
 * @property {boolean} owner
 * @property {RoomDefaults} settings
 * @property {string[]} hosts
 * @property {number} participants
 * @property {string[]} people the names of those in it now
 *
 * @typedef {object} LibraryFile
 * @property {string} file
 * @property {string} codec
 * @property {number} duration_ms
 *
 * @typedef {object} LibraryEntry
 * @property {string} id
 * @property {string} title
 * @property {string} kind
 * @property {string} status
 * @property {number} started_at milliseconds since the epoch
 * @property {number | null} ended_at
 * @property {number} bytes
 * @property {LibraryFile[]} files
 *
 * @typedef {object} Door
 * @property {boolean} host
 * @property {string} [name]
 * @property {boolean} guests
 * @property {boolean} access_code
 * @property {boolean} waiting_room
 */

/** The CSRF token of the session, once known. */
let csrf = '';

/** A refusal of the server, with its stable code. */
export class AccountError extends Error {
  /** @param {string} code @param {string} message @param {number} status */
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/**
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body] JSON, or a Blob sent as it is
 * @returns {Promise<any>}
 */
async function call(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (method !== 'GET') headers['moim-csrf'] = csrf;
  /** @type {BodyInit | undefined} */
  let payload;
  if (body instanceof Blob) {
    payload = body;
    headers['content-type'] = body.type || 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  const answer = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    throw new AccountError(answer?.code ?? 'internal', answer?.message ?? `HTTP ${res.status}`, res.status);
  }
  if (answer && typeof answer.csrf === 'string') csrf = answer.csrf;
  return answer;
}

/** @returns {Promise<User | null>} the signed-in user, or null */
export async function currentUser() {
  try {
    return (await call('GET', '/api/account')).user;
  } catch (err) {
    if (err instanceof AccountError && err.code === 'not_signed_in') return null;
    throw err;
  }
}

/** @returns {Promise<{ signup: 'open' | 'invite' | 'off', oidc?: string }>} */
export const accountOptions = () => call('GET', '/api/account/options');
/** @param {string} email @param {string} password @returns {Promise<{ user: User }>} */
export const signIn = (email, password) => call('POST', '/api/account/sign-in', { email, password });
/** @param {{ email?: string, name: string, password: string, invite?: string }} request @returns {Promise<{ user: User }>} */
export const signUp = (request) => call('POST', '/api/account/sign-up', request);
export const signOut = () => call('POST', '/api/account/sign-out');
export const signOutEverywhere = () => call('POST', '/api/account/sign-out-everywhere');
/** @param {string} name @returns {Promise<{ user: User }>} */
export const rename = (name) => call('PATCH', '/api/account', { name });
/** @param {string} current @param {string} next */
export const changePassword = (current, next) => call('POST', '/api/account/password', { current, new: next });
/** @param {Blob} picture */
export const setAvatar = (picture) => call('PUT', '/api/account/avatar', picture);
/** @returns {Promise<{ rooms: OwnedRoom[] }>} */
export const myRooms = () => call('GET', '/api/account/rooms');
/** @param {{ name?: string, settings?: RoomDefaults, hosts?: string[] }} request @returns {Promise<OwnedRoom>} */
export const createRoom = (request) => call('POST', '/api/account/rooms', request);
/** @param {string} room */
export const deleteRoom = (room) => call('DELETE', `/api/account/rooms/${encodeURIComponent(room)}`);
/** @param {string} room @returns {Promise<{ recordings: LibraryEntry[], chats: { id: string, ended_at: number }[] }>} */
export const library = (room) => call('GET', `/api/account/rooms/${encodeURIComponent(room)}/recordings`);
/** @param {string} id @param {string} title */
export const renameRecording = (id, title) => call('PATCH', `/api/account/recordings/${encodeURIComponent(id)}`, { title });
/** @param {string} id */
export const deleteRecording = (id) => call('DELETE', `/api/account/recordings/${encodeURIComponent(id)}`);
/** @param {string} id @param {string} file the URL a recording's file is played and downloaded from */
export const recordingFileUrl = (id, file) => `/api/account/recordings/${encodeURIComponent(id)}/${encodeURIComponent(file)}`;
/** @param {string} id */
export const deleteChat = (id) => call('DELETE', `/api/account/chats/${encodeURIComponent(id)}`);
/** @returns {Promise<{ users: User[], next: string | null }>} */
export const listUsers = () => call('GET', '/api/users?limit=1000');
/** @param {string} email @param {boolean} admin @returns {Promise<{ code: string, link: string, days: number }>} */
export const invite = (email, admin) => call('POST', '/api/users/invites', { email, admin });
/** @param {string} id @param {{ disabled?: boolean, admin?: boolean, password?: string }} change @returns {Promise<User>} */
export const updateUser = (id, change) => call('PATCH', `/api/users/${encodeURIComponent(id)}`, change);

/**
 * What a room's link asks of this browser; null when the server keeps no such room.
 * @param {string} room
 * @returns {Promise<Door | null>}
 */
export async function roomDoor(room) {
  try {
    await currentUser();
    return await call('GET', `/api/join/${encodeURIComponent(room)}`);
  } catch (err) {
    if (err instanceof AccountError && err.code === 'not_found') return null;
    throw err;
  }
}

/**
 * A token to join an owned room.
 * @param {string} room
 * @param {string} name
 * @param {string | undefined} accessCode
 * @returns {Promise<{ token: string, identity: string, host: boolean }>}
 */
export const joinRoom = (room, name, accessCode) =>
  call('POST', `/api/join/${encodeURIComponent(room)}`, { name, access_code: accessCode || undefined });
