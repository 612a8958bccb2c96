// The signaling WebSocket: one socket at a time, request/reply matching by `id`, keepalive
// pings, reopening with backoff after the socket is lost, and resuming the message stream
// on the new socket: from `joined` on, messages both ways are counted and the latest ones
// kept, so that what was lost with the old socket is sent again.

import { Emitter } from './events.js';
import { MoimError } from './errors.js';
import { PROTOCOL_VERSION } from './protocol.js';

const PING_INTERVAL_MS = 10_000;
// A socket that has not delivered anything (not even a `pong`) for this long is treated as
// lost; browsers can take minutes to notice a dead TCP connection on their own.
const SILENCE_LIMIT_MS = 25_000;
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 5_000;
/** How many of its own latest messages the client keeps to send again after a resume. */
const SENT_KEPT = 256;

/** @typedef {import('./protocol.js').ClientMessage} ClientMessage */
/** @typedef {import('./protocol.js').ServerMessage} ServerMessage */

/**
 * @typedef {object} SignalEvents
 * @property {[ServerMessage]} message a server message that is not the reply to a request
 * @property {[{ code: number, reason: string }]} lost the socket closed without `close()`
 */

/**
 * @typedef {object} PendingRequest
 * @property {string} id
 * @property {string} replyType
 * @property {(msg: ServerMessage) => void} resolve
 * @property {(err: Error) => void} reject
 * @property {boolean} [anyError] settled by an `error` without `id` too (see {@link SignalClient.expect})
 * @property {boolean} [startsStream] its reply starts the counted message stream
 */

/**
 * Turns an http(s) base URL into the signaling WebSocket URL.
 * @param {string} base e.g. `https://meet.example.org`
 * @returns {string} e.g. `wss://meet.example.org/rtc`
 */
export function signalUrl(base) {
  const url = new URL(base);
  url.protocol = url.protocol === 'https:' || url.protocol === 'wss:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/rtc`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/** @extends {Emitter<SignalEvents>} */
export class SignalClient extends Emitter {
  /** @type {WebSocket | null} */
  #ws = null;
  /** @type {PendingRequest[]} */
  #pending = [];
  #nextId = 1;
  /** @type {ReturnType<typeof setInterval> | undefined} */
  #pingTimer;
  #lastHeard = 0;
  #backoff = BACKOFF_FIRST_MS;
  /** Messages received since `joined`. */
  #received = 0;
  #countReceived = false;
  /** Messages sent since `join`, the latest of them kept. @type {string[]} */
  #sentKept = [];
  #sent = 0;
  #countSent = false;
  /** A resume is under way: nothing else goes out until the server said where it was. */
  #resuming = false;

  /** @param {string} url the WebSocket URL, see {@link signalUrl} */
  constructor(url) {
    super();
    /** Where sockets open: the server's URL, or the node hosting the room it sent us to. */
    this.url = url;
    /** @readonly the server's URL as given */
    this.home = url;
    /**
     * `performance.now()` when the latest socket was created and when it opened.
     * @type {{ start?: number, open?: number }}
     */
    this.timings = {};
  }

  /** The current socket, for diagnostics; `null` when none is open. */
  get socket() {
    return this.#ws;
  }

  /**
   * Opens a new socket, closing any previous one.
   * @returns {Promise<void>} resolves once open; rejects with code `connection_failed`
   */
  open() {
    this.close();
    this.#countReceived = false;
    this.#countSent = false;
    return new Promise((resolve, reject) => {
      this.timings = { start: performance.now() };
      const ws = new WebSocket(this.url);
      this.#ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this.timings.open = performance.now();
        this.#lastHeard = Date.now();
        this.#startPings();
        resolve();
      };
      ws.onmessage = (ev) => {
        this.#lastHeard = Date.now();
        this.#receive(ev.data, true);
      };
      ws.onclose = (ev) => {
        if (this.#ws !== ws) return;
        this.#detach();
        if (opened) {
          // Requests in flight stay pending: a resume answers them.
          this.emit('lost', { code: ev.code, reason: ev.reason });
        } else {
          reject(new MoimError('connection_failed', `Could not connect to ${this.url}.`));
        }
      };
    });
  }

  /**
   * Opens a socket to another node of a cluster, which hosts the room (`moved`).
   * @param {string} url its WebSocket URL
   */
  moveTo(url) {
    this.url = url;
    return this.open();
  }

  /** Opens the next socket at the server's own URL again, which places the room anew. */
  goHome() {
    this.url = this.home;
  }

  /** Whether sockets open at another node than the server's own URL. */
  get moved() {
    return this.url !== this.home;
  }

  /**
   * Keeps trying to open a socket. The wait before each try starts at 250 ms and doubles up to
   * 5 s; it keeps growing across calls until {@link resetBackoff}, so that a server which
   * accepts sockets but fails joins is not hammered either.
   * @param {AbortSignal} abort stops the attempts
   * @param {number} [tries] gives up after this many failed attempts
   * @returns {Promise<boolean>} true once a socket is open, false if aborted or given up
   */
  async reopen(abort, tries = Infinity) {
    for (let failed = 0; failed < tries; ) {
      await sleep(this.#backoff, abort);
      this.#backoff = Math.min(this.#backoff * 2, BACKOFF_MAX_MS);
      if (abort.aborted) return false;
      try {
        await this.open();
      } catch {
        failed += 1;
        continue;
      }
      if (!abort.aborted) return true;
      this.close();
      return false;
    }
    return false;
  }

  /** Call once a session is established again: the next {@link reopen} starts quickly. */
  resetBackoff() {
    this.#backoff = BACKOFF_FIRST_MS;
  }

  /**
   * Joins: sends `join` and starts counting the message stream at its reply.
   * @param {string} token
   * @returns {Promise<Extract<ServerMessage, { type: 'joined' }>>}
   */
  join(token) {
    this.#received = 0;
    this.#sent = 0;
    this.#sentKept = [];
    return this.request({ type: 'join', v: PROTOCOL_VERSION, token }, 'joined', null, true);
  }

  /**
   * Resumes the message stream of participant `sid` on the socket just opened: the server
   * sends again what this client missed, and this client what the server missed. Rejects
   * (e.g. `cannot_resume`) when the stream cannot go on; the caller then joins afresh.
   * @param {string} sid
   * @param {string} key the `resume` key from `joined`
   */
  async resume(sid, key) {
    this.#resuming = true;
    try {
      const msg = { type: 'resume', v: PROTOCOL_VERSION, participant: sid, key, received: this.#received };
      const reply = await this.request(/** @type {ClientMessage} */ (msg), 'resumed', null, true);
      const missed = this.#sent - reply.received;
      if (missed < 0 || missed > this.#sentKept.length) {
        throw new MoimError('cannot_resume', 'Messages sent before the connection was lost cannot be sent again.');
      }
      for (const text of this.#sentKept.slice(this.#sentKept.length - missed)) this.#ws?.send(text);
    } finally {
      this.#resuming = false;
    }
  }

  /**
   * Checks that the socket still carries messages: a ping not answered within `ms` gives
   * the socket up (`lost` follows). For when the media path broke and signaling may have
   * broken with it.
   * @param {number} ms
   */
  probe(ms) {
    const ws = this.#ws;
    if (!ws) return;
    const timer = setTimeout(() => {
      if (this.#ws === ws) this.#drop();
    }, ms);
    const done = () => clearTimeout(timer);
    this.request({ type: 'ping' }, 'pong').then(done, done);
  }

  /** Gives up the requests waiting for replies (the stream they belong to is over). */
  failPending() {
    this.#failPending(new MoimError('connection_closed', 'The signaling connection closed.'));
  }

  /**
   * Leaves the socket for a new one without a closing handshake (which would end the
   * session); the requests in flight stay pending for a resume. The server closes the old
   * socket once the new one resumes.
   */
  abandon() {
    const ws = this.#ws;
    if (!ws) return;
    this.#detach();
    ws.onopen = ws.onmessage = ws.onclose = null;
  }

  /** Closes the socket on purpose: no `lost` event follows. */
  close() {
    const ws = this.#ws;
    if (!ws) return;
    this.#detach();
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.close(1000);
    this.#failPending(new MoimError('connection_closed', 'The signaling connection closed.'));
  }

  /**
   * Sends a message that expects no reply. Returns false if no socket is open.
   * @param {ClientMessage} msg
   */
  send(msg) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.#resuming) return false;
    this.#write(ws, JSON.stringify(msg));
    return true;
  }

  /**
   * Writes a frame; once the stream started, it is counted and kept for a resume.
   * @param {WebSocket} ws
   * @param {string} text
   */
  #write(ws, text) {
    ws.send(text);
    if (!this.#countSent) return;
    this.#sent += 1;
    this.#sentKept.push(text);
    if (this.#sentKept.length > SENT_KEPT) this.#sentKept.shift();
  }

  /**
   * Sends a request and waits for its reply: the message of type `replyType` or the `error`
   * that echoes the request's `id`. With `via`, the request goes out that way (a data
   * channel) and its reply may come back either way ({@link deliver}).
   * @template {ServerMessage['type']} T
   * @param {ClientMessage} msg
   * @param {T} replyType
   * @param {((text: string) => void) | null} [via]
   * @param {boolean} [startsStream] `join` or `resume`: its reply starts the counted stream
   * @returns {Promise<Extract<ServerMessage, { type: T }>>}
   */
  request(msg, replyType, via = null, startsStream = false) {
    return new Promise((resolve, reject) => {
      const id = `r${this.#nextId++}`;
      const ws = this.#ws;
      if (!via && (!ws || ws.readyState !== WebSocket.OPEN || (this.#resuming && !startsStream))) {
        reject(new MoimError('connection_closed', 'The signaling connection is not open.'));
        return;
      }
      this.#pending.push({
        id,
        replyType,
        resolve: /** @type {(msg: ServerMessage) => void} */ (resolve),
        reject,
        startsStream,
      });
      const text = JSON.stringify({ ...msg, id });
      if (via) via(text);
      else if (startsStream) {
        ws?.send(text);
        // The server counts what follows this frame.
        this.#countSent = true;
      } else if (ws) this.#write(ws, text);
    });
  }

  /**
   * Waits for the next message of type `type` that answers no request, or the next error
   * that answers none (e.g. `joined` or `rejected` after `waiting`).
   * @template {ServerMessage['type']} T
   * @param {T} type
   * @returns {Promise<Extract<ServerMessage, { type: T }>>}
   */
  expect(type) {
    return new Promise((resolve, reject) => {
      this.#pending.push({
        id: '',
        replyType: type,
        resolve: /** @type {(msg: ServerMessage) => void} */ (resolve),
        reject,
        anyError: true,
      });
    });
  }

  /**
   * Handles a server message that arrived another way (a data channel) like one from the
   * socket: replies settle their requests, the rest is emitted as `message`.
   * @param {string} text
   */
  deliver(text) {
    this.#receive(text, false);
  }

  /**
   * @param {unknown} data
   * @param {boolean} onSocket it came on the socket: it counts in the stream
   */
  #receive(data, onSocket) {
    if (typeof data !== 'string') return;
    /** @type {ServerMessage} */
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    if (onSocket && this.#countReceived) this.#received += 1;
    const index = this.#pendingIndexFor(msg);
    if (index < 0) {
      this.emit('message', msg);
      return;
    }
    const [req] = this.#pending.splice(index, 1);
    if (msg.type === 'error') {
      req.reject(new MoimError(msg.code, msg.message));
    } else {
      if (req.startsStream) this.#countReceived = true;
      req.resolve(msg);
    }
  }

  /**
   * Finds the request a message answers: by echoed `id`, or, for a reply that carries no
   * `id`, the oldest request waiting for that type.
   * @param {ServerMessage} msg
   */
  #pendingIndexFor(msg) {
    if (msg.id !== undefined) {
      return this.#pending.findIndex((req) => req.id === String(msg.id));
    }
    if (msg.type === 'error') return this.#pending.findIndex((req) => req.anyError);
    // Messages of these types also arrive as events from others; only an echoed `id`
    // makes one a reply.
    if (msg.type === 'chat' || msg.type === 'poll' || msg.type === 'recording' || msg.type === 'broadcast') return -1;
    return this.#pending.findIndex((req) => req.replyType === msg.type);
  }

  #startPings() {
    this.#pingTimer = setInterval(() => {
      if (Date.now() - this.#lastHeard > SILENCE_LIMIT_MS) {
        this.#drop();
        return;
      }
      this.send({ type: 'ping' });
    }, PING_INTERVAL_MS);
  }

  /** Gives up on a silent socket without waiting for a closing handshake that may never come. */
  #drop() {
    const ws = this.#ws;
    if (!ws) return;
    this.#detach();
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.close(4000, 'no reply from server');
    this.emit('lost', { code: 4000, reason: 'no reply from server' });
  }

  #detach() {
    clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
    this.#ws = null;
  }

  /** @param {Error} err */
  #failPending(err) {
    const pending = this.#pending;
    this.#pending = [];
    for (const req of pending) req.reject(err);
  }
}

/**
 * @param {number} ms
 * @param {AbortSignal} abort
 * @returns {Promise<void>}
 */
function sleep(ms, abort) {
  return new Promise((resolve) => {
    if (abort.aborted) return resolve();
    const timer = setTimeout(done, ms);
    abort.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      abort.removeEventListener('abort', done);
      resolve();
    }
  });
}
