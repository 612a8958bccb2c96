// What hosts (admin grant) do to the meeting: mute or remove others, end the meeting.
// The server refuses everyone else with `permission_denied`, reported as the room's
// `error` event.

/** @typedef {import('./signal.js').SignalClient} SignalClient */

export class Moderation {
  #signal;

  /** @param {SignalClient} signal */
  constructor(signal) {
    this.#signal = signal;
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
