// How a session outlives a broken network without leaving the room. A media connection
// that fails (or stays disconnected) gets its ICE restarted over signaling. A publisher
// connection that stops hearing from the server (`PathWatch`: the network changed under
// it) and a lost signaling socket both resume the session on a new socket, then restart
// ICE where the media path is broken. Only when that cannot work does the room join
// afresh, as a new participant.

import { MoimError, asMoimError } from './errors.js';
import { FATAL_JOIN_CODES } from './protocol.js';
import { PathWatch } from './path-watch.js';

/** A connection disconnected this long gets its ICE restarted. */
const ICE_RESTART_AFTER_MS = 500;
/** An ICE restart that has not brought media back by then gives way to a full reconnect. */
const ICE_RESTART_TIMEOUT_MS = 10_000;
/** How long a lost session is tried to be resumed before joining afresh (the server keeps it 20 s). */
const RESUME_WITHIN_MS = 15_000;

/** @typedef {import('./room.js').ConnectionState} ConnectionState */

/**
 * What the room lends its recovery.
 * @typedef {object} Session
 * @property {() => ConnectionState} state
 * @property {(state: ConnectionState) => void} setState
 * @property {() => boolean} reconnects the room's `reconnect` option
 * @property {() => boolean} live `joined` arrived and the media connections are in use
 * @property {() => RTCPeerConnection | null} publisher the publisher connection, while in use
 * @property {() => (RTCPeerConnectionState | undefined)[]} mediaStates both connections' states
 * @property {() => string} sid the local participant's sid
 * @property {() => void} renegotiate sends a publisher offer (after `restartIce()`)
 * @property {() => Promise<void>} join closes the media connections, opens fresh ones and joins on the open socket
 * @property {() => void} closeMedia
 * @property {(error: MoimError) => void} end ends the session for good
 */

export class Recovery {
  /** ICE restarts so far. */
  iceRestarts = 0;
  /** The key that resumes the session's signaling on a new socket (from `joined`). */
  resumeKey = '';
  #signal;
  #session;
  /** An ICE restart in progress: the fallback to a full reconnect. @type {ReturnType<typeof setTimeout> | null} */
  #iceRestart = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #disconnectedTimer = undefined;
  /** @type {AbortController | null} */
  #reconnecting = null;
  #pathWatch;

  /**
   * @param {import('./signal.js').SignalClient} signal
   * @param {Session} session
   */
  constructor(signal, session) {
    this.#signal = signal;
    this.#session = session;
    this.#pathWatch = new PathWatch(session.publisher, () => this.#resume(true));
    signal.on('lost', () => this.#onConnectionLost());
  }

  /** The media connections are in use (after `joined`). */
  start() {
    this.#pathWatch.start();
  }

  /** The media connections are closed: nothing to watch or restart. */
  stop() {
    this.#pathWatch.stop();
    clearTimeout(this.#iceRestart ?? undefined);
    this.#iceRestart = null;
    clearTimeout(this.#disconnectedTimer);
  }

  /** The session ends: reconnecting stops too. */
  abort() {
    this.#reconnecting?.abort();
    this.#reconnecting = null;
    this.resumeKey = '';
  }

  /**
   * A peer connection's state changed: ICE is restarted at once when one failed, after
   * `ICE_RESTART_AFTER_MS` when one stays disconnected (it often recovers by itself).
   */
  mediaStateChanged() {
    const states = this.#session.mediaStates();
    clearTimeout(this.#disconnectedTimer);
    if (states.includes('failed')) {
      this.#restartIce();
    } else if (states.includes('disconnected')) {
      this.#disconnectedTimer = setTimeout(() => this.#restartIce(), ICE_RESTART_AFTER_MS);
    } else if (states.every((s) => s !== 'connecting')) {
      clearTimeout(this.#iceRestart ?? undefined);
      this.#iceRestart = null;
    }
  }

  /**
   * Restarts ICE on both connections: the publisher with a new offer, the subscriber by
   * asking the server for one. If media is not back within `ICE_RESTART_TIMEOUT_MS`, or
   * the signaling socket is down, the session is taken up again.
   */
  #restartIce() {
    if (this.#session.state() !== 'connected' || this.#iceRestart) return;
    if (!this.#signal.send({ type: 'restart_ice' })) {
      this.#onConnectionLost();
      return;
    }
    this.iceRestarts += 1;
    this.#iceRestart = setTimeout(() => {
      this.#iceRestart = null;
      const states = this.#session.mediaStates();
      if (this.#session.state() === 'connected' && states.some((s) => s === 'failed' || s === 'disconnected' || s === 'connecting')) {
        this.resumeKey = '';
        this.#onConnectionLost();
      }
    }, ICE_RESTART_TIMEOUT_MS);
    this.#session.publisher()?.restartIce();
    this.#session.renegotiate();
  }

  /**
   * The node hosting the session is going away (`reconnect`): join afresh at the server's
   * own URL, which places the room on another node, without trying to resume here.
   */
  leaveNode() {
    this.resumeKey = '';
    this.#onConnectionLost();
  }

  #onConnectionLost() {
    if (this.#session.state() !== 'connected') return;
    if (!this.#session.reconnects()) {
      this.#session.end(new MoimError('connection_closed', 'The connection to the server was lost.'));
      return;
    }
    if (this.resumeKey && this.#session.live()) this.#resume(false);
    else this.#reconnect();
  }

  /**
   * Takes the session up on a new signaling socket (the old one was lost, or the media
   * path broke and the socket most likely with it): same participant, same connections,
   * nothing missed either way; then restarts ICE if the media path is broken. Joins
   * afresh if the server cannot resume the session.
   * @param {boolean} pathBroken the media path broke
   */
  async #resume(pathBroken) {
    // An ICE restart under way has its own fallback.
    if (this.#session.state() !== 'connected' || (pathBroken && this.#iceRestart)) return;
    this.#session.setState('reconnecting');
    const signal = this.#signal;
    signal.abandon();
    const abort = new AbortController();
    this.#reconnecting = abort;
    const giveUpAt = Date.now() + RESUME_WITHIN_MS;
    let opened = await signal.open().then(() => true, () => false);
    while (!abort.signal.aborted && Date.now() < giveUpAt) {
      if (!opened) {
        // The node of a cluster that hosted the room and refuses connections is most
        // likely gone: the room is joined afresh where it is placed now.
        opened = await signal.reopen(abort.signal, signal.moved ? 1 : Infinity);
        if (!opened && signal.moved) break;
        continue;
      }
      try {
        await signal.resume(this.#session.sid(), this.resumeKey);
      } catch (err) {
        if (abort.signal.aborted) return;
        if (asMoimError(err).code === 'connection_closed') {
          opened = false;
          continue;
        }
        break;
      }
      this.#reconnecting = null;
      signal.resetBackoff();
      this.#session.setState('connected');
      const states = this.#session.mediaStates();
      if (pathBroken || states.some((s) => s === 'failed' || s === 'disconnected')) this.#restartIce();
      return;
    }
    if (abort.signal.aborted) return;
    this.#reconnecting = null;
    signal.failPending();
    this.#reconnect();
  }

  /** Joins afresh, as a new participant, retrying until it works or cannot. */
  async #reconnect() {
    this.#session.setState('reconnecting');
    this.#signal.close();
    // A fresh join goes where the room is placed now: its node may be gone.
    this.#signal.goHome();
    this.#session.closeMedia();
    const abort = new AbortController();
    this.#reconnecting = abort;
    while (await this.#signal.reopen(abort.signal)) {
      try {
        await this.#session.join();
      } catch (err) {
        if (abort.signal.aborted) return;
        const error = asMoimError(err);
        if (FATAL_JOIN_CODES.has(error.code) || error.code === 'replaced') {
          this.#session.end(error);
          return;
        }
        // A node the cluster sent us to that refused is gone; the cluster places the room
        // elsewhere within two seconds, so the next try comes soon.
        if (this.#signal.moved) this.#signal.resetBackoff();
        this.#signal.close();
        this.#signal.goHome();
        this.#session.closeMedia();
        continue;
      }
      if (abort.signal.aborted) return;
      this.#reconnecting = null;
      this.#session.setState('connected');
      return;
    }
  }
}
