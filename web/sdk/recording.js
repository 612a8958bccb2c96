// Server recordings as one client sees them: whether one runs in the room (everyone is
// told), and for hosts (record grant) starting and stopping one.

import { Emitter } from './events.js';

/** @typedef {import('./protocol.js').RecordingInfo} RecordingInfo */
/** @typedef {import('./protocol.js').RecordingStopReason} RecordingStopReason */
/** @typedef {import('./signal.js').SignalClient} SignalClient */

/**
 * @typedef {object} ServerRecordingEvents
 * @property {[RecordingInfo | null, RecordingStopReason | undefined]} change a recording
 *   started (its description) or stopped (`null`; with the reason when the server stopped
 *   it at one of its limits)
 */

/** @extends {Emitter<ServerRecordingEvents>} */
export class ServerRecording extends Emitter {
  #signal;
  /** @type {RecordingInfo | null} */
  #current = null;

  /** @param {SignalClient} signal */
  constructor(signal) {
    super();
    this.#signal = signal;
  }

  /** The recording running in the room, or `null`. */
  get current() {
    return this.#current;
  }

  /**
   * Starts recording the room on the server; rejects with `permission_denied` without the
   * record grant, `conflict` when one already runs.
   * @param {import('./protocol.js').RecordingKind} [kind] `track`: each track in its own
   *   file; `participant`: each participant's audio and video in one file; `composite`:
   *   the whole meeting in one file (a grid of the videos, the mixed audio); `audio_only`:
   *   the room's audio mixed into one file
   */
  async start(kind = 'track') {
    const reply = await this.#signal.request({ type: 'recording_start', kind }, 'recording');
    this.update(reply.recording ?? null);
    return reply.recording ?? null;
  }

  /** Stops the room's recording; resolves once its files are complete. */
  async stop() {
    await this.#signal.request({ type: 'recording_stop' }, 'recording');
    this.update(null);
  }

  /**
   * Takes the room's recording state from the server.
   * @param {RecordingInfo | null} info
   * @param {RecordingStopReason} [reason]
   */
  update(info, reason) {
    if (this.#current?.id === info?.id) return;
    this.#current = info;
    this.emit('change', info, reason);
  }
}
