// The app's calls to the server's HTTP API, and what it reads from access tokens.

/**
 * @typedef {object} ServerInfo
 * @property {string} version
 * @property {boolean} devMode tokens can be minted from the browser
 */

/** @returns {Promise<ServerInfo>} */
export async function serverInfo() {
  const res = await fetch('/api/info');
  if (!res.ok) throw new Error(`The server did not describe itself (HTTP ${res.status}).`);
  return res.json();
}

/**
 * Mints an access token through the development-mode endpoint.
 * @param {{ room: string, name: string, host: boolean }} request
 * @returns {Promise<{ token: string, identity: string }>}
 */
export async function mintDevToken(request) {
  const res = await fetch('/api/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request),
  });
  if (!res.ok) {
    const body = await res.json().catch(() => null);
    throw new Error(body?.message ?? `The server refused a token (HTTP ${res.status}).`);
  }
  return res.json();
}

/**
 * @typedef {object} TokenClaims
 * @property {string} [sub] identity
 * @property {string} [name] display name
 * @property {number} [exp] expiry, seconds since the epoch
 * @property {{ room?: string, canPublish?: boolean, roomAdmin?: boolean }} [video] grants
 */

/**
 * Reads a JWT's claims for display. The signature is not checked: the server does that.
 * @param {string} token
 * @returns {TokenClaims | null}
 */
export function tokenClaims(token) {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

const ADJECTIVES = [
  'amber', 'bold', 'brisk', 'calm', 'clever', 'cosy', 'crisp', 'daring', 'eager', 'fancy',
  'gentle', 'golden', 'happy', 'hidden', 'jolly', 'keen', 'lively', 'lucky', 'merry', 'misty',
  'noble', 'proud', 'quiet', 'rapid', 'rosy', 'shiny', 'silver', 'sunny', 'swift', 'tidy',
  'vivid', 'witty',
];
const NOUNS = [
  'badger', 'beacon', 'cedar', 'comet', 'delta', 'falcon', 'fjord', 'garden', 'harbor', 'heron',
  'island', 'lagoon', 'lantern', 'maple', 'meadow', 'meteor', 'orchid', 'otter', 'panda', 'pebble',
  'pine', 'prairie', 'quartz', 'raven', 'river', 'saddle', 'summit', 'tiger', 'tundra', 'valley',
  'willow', 'zephyr',
];

/** A room name that is easy to read aloud, e.g. `swift-otter-meadow-42`. */
export function randomRoomName() {
  const [a, b, c, d] = crypto.getRandomValues(new Uint32Array(4));
  const pick = (/** @type {string[]} */ list, /** @type {number} */ n) => list[n % list.length];
  return `${pick(ADJECTIVES, a)}-${pick(NOUNS, b)}-${pick(NOUNS, c)}-${d % 100}`;
}

/** Room names the server accepts (`crates/proto/src/names.rs`): they go unescaped into paths. */
export const ROOM_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
