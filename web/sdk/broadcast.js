// Live broadcasts as one client sees them: whether the room is live (everyone is told), and
// for hosts (record grant) starting and stopping one, and where viewers watch it.

import { Emitter } from './events.js';
import { MoimError } from './errors.js';

/** @typedef {import('./protocol.js').BroadcastInfo} BroadcastInfo */
/** @typedef {import('./protocol.js').BroadcastPlayback} BroadcastPlayback */
/** @typedef {import('./protocol.js').BroadcastStopReason} BroadcastStopReason */
/** @typedef {import('./signal.js').SignalClient} SignalClient */

/**
 * @typedef {object} LiveBroadcastEvents
 * @property {[BroadcastInfo | null, BroadcastPlayback | null, BroadcastStopReason | undefined]} change
 *   the room went live (the broadcast, with where to watch it when this client started it)
 *   or stopped being live (`null`; with the reason when the server stopped it by itself)
 */

/**
 * @typedef {object} BroadcastStartOptions
 * @property {string} source the identity of the participant shown; it need not have
 *   joined yet (its camera and microphone are taken once published); or `composite`
 *   for everyone's cameras in a grid with everyone's sound (played over HLS only)
 * @property {boolean} [public] anyone may watch it (default false: only through the signed
 *   URLs of its playback)
 */

/** @extends {Emitter<LiveBroadcastEvents>} */
export class LiveBroadcast extends Emitter {
  #signal;
  /** @type {BroadcastInfo | null} */
  #current = null;
  /** @type {BroadcastPlayback | null} */
  #playback = null;

  /** @param {SignalClient} signal */
  constructor(signal) {
    super();
    this.#signal = signal;
  }

  /** The broadcast running in the room (the room is live), or `null`. */
  get current() {
    return this.#current;
  }

  /**
   * Where viewers watch the current broadcast (paths on the server), when this client
   * started it; `null` otherwise (hosts list it with `GET /api/rooms/{room}/broadcasts`).
   */
  get playback() {
    return this.#playback;
  }

  /**
   * Makes the room live: a broadcast of the source's camera and microphone (or the
   * grid). Rejects with `permission_denied` without the record grant, `conflict` when
   * one already runs.
   * @param {BroadcastStartOptions} options
   * @returns {Promise<{ broadcast: BroadcastInfo, playback: BroadcastPlayback }>}
   */
  async start(options) {
    const reply = await this.#signal.request(
      { type: 'broadcast_start', source: options.source, public: options.public ?? false },
      'broadcast',
    );
    const { broadcast, playback } = reply;
    if (!broadcast || !playback) {
      throw new MoimError('client_error', 'The server answered broadcast_start without the broadcast and its playback.');
    }
    this.update(broadcast, playback);
    return { broadcast, playback };
  }

  /** Stops the room's broadcast; rejects with `not_found` when none runs. */
  async stop() {
    await this.#signal.request({ type: 'broadcast_stop' }, 'broadcast');
    this.update(null);
  }

  /**
   * Takes the room's broadcast state from the server.
   * @param {BroadcastInfo | null} info
   * @param {BroadcastPlayback} [playback] where to watch it, when the server said
   * @param {BroadcastStopReason} [reason] why the server stopped it by itself
   */
  update(info, playback, reason) {
    const same = this.#current?.id === info?.id;
    if (same && (!playback || playback === this.#playback)) return;
    this.#current = info;
    // The playback of the broadcast that runs is kept over a rejoin, which does not repeat it.
    if (!same) this.#playback = null;
    if (info && playback) this.#playback = playback;
    this.emit('change', info, this.#playback, info ? undefined : reason);
  }
}
