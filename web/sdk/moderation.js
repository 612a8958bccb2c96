// What hosts (admin grant) do to the meeting: set it up (lock, waiting room, audio room),
// let newcomers in or turn them away, make speakers, mute or remove others, end it. The
// server refuses everyone else with `permission_denied`, reported as the room's `error`
// event.

import { Emitter } from './events.js';

/** @typedef {import('./signal.js').SignalClient} SignalClient */
/** @typedef {import('./protocol.js').Sender} Sender */

/**
 * @typedef {object} ModerationEvents
 * @property {[Sender[]]} waiting who is in the waiting room now, oldest first (hosts only)
 */

/**
 * @typedef {object} SettingsChange
 * @property {boolean} [locked] no one new may join
 * @property {boolean} [waitingRoom] newcomers wait until a host admits them
 * @property {'meeting' | 'audio'} [mode] in an audio room only hosts and speakers publish
 */

/** @extends {Emitter<ModerationEvents>} */
export class Moderation extends Emitter {
  #signal;
  /** @type {Sender[]} */
  #waiting = [];

  /** @param {SignalClient} signal */
  constructor(signal) {
    super();
    this.#signal = signal;
  }

  /** Who is in the waiting room, oldest first (known to hosts only). */
  get waiting() {
    return [...this.#waiting];
  }

  /**
   * Takes the waiting room's list from the server.
   * @param {Sender[]} list
   */
  setWaiting(list) {
    this.#waiting = list;
    this.emit('waiting', [...list]);
  }

  /**
   * Changes the room's settings; fields left out stay as they are. Everyone receives the
   * room's `settings` event.
   * @param {SettingsChange} change
   */
  setSettings(change) {
    return this.#signal.send({
      type: 'room_settings',
      ...(change.locked !== undefined ? { locked: change.locked } : {}),
      ...(change.waitingRoom !== undefined ? { waiting_room: change.waitingRoom } : {}),
      ...(change.mode !== undefined ? { mode: change.mode } : {}),
    });
  }

  /** @param {string} sid of someone in the waiting room */
  admit(sid) {
    return this.#signal.send({ type: 'admit', participant: sid });
  }

  /** @param {string} sid of someone in the waiting room */
  reject(sid) {
    return this.#signal.send({ type: 'reject', participant: sid });
  }

  /**
   * Makes a listener of an audio room a speaker (they may publish at once, without
   * rejoining) or a listener again (their tracks stop).
   * @param {string} participantSid
   * @param {boolean} speaker
   */
  setSpeaker(participantSid, speaker) {
    return this.#signal.send({ type: 'set_speaker', participant: participantSid, speaker });
  }

  /**
   * Mutes another participant's track (the server stops forwarding it at once); `lock`
   * keeps them from unmuting until you call this again with `muted: false`, which allows
   * them to unmute (it never turns their microphone or camera on).
   * @param {string} participantSid
   * @param {string} trackSid
   * @param {{ muted?: boolean, lock?: boolean }} [options]
   */
  mute(participantSid, trackSid, options = {}) {
    return this.#signal.send({
      type: 'mute_participant',
      participant: participantSid,
      track: trackSid,
      muted: options.muted ?? true,
      lock: options.lock ?? false,
    });
  }

  /**
   * Removes a participant; with `ban` their identity cannot join again.
   * @param {string} participantSid
   * @param {{ ban?: boolean }} [options]
   */
  remove(participantSid, options = {}) {
    return this.#signal.send({ type: 'remove_participant', participant: participantSid, ban: options.ban ?? false });
  }

  /** Ends the meeting for everyone. */
  endMeeting() {
    return this.#signal.send({ type: 'end_meeting' });
  }
}
