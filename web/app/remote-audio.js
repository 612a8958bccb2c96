// What you hear: one hidden <audio> element per remote audio track you receive, which plays it.

import { h } from './dom.js';

/** @typedef {import('/sdk/moim.js').RemoteParticipant} RemoteParticipant */
/** @typedef {import('/sdk/moim.js').TrackInfo} TrackInfo */

export class RemoteAudio {
  constructor() {
    /** By track sid. @type {Map<string, HTMLAudioElement>} */
    this.audios = new Map();
    this.el = h('div', { class: 'audio-sinks', hidden: true });
  }

  /**
   * @param {MediaStreamTrack} track
   * @param {RemoteParticipant} p
   * @param {TrackInfo} info
   */
  add(track, p, info) {
    const audio = h('audio', { autoplay: true, 'data-track-sid': info.sid, 'data-participant-sid': p.sid, 'data-source': info.source });
    audio.srcObject = new MediaStream([track]);
    audio.play().catch(() => {});
    this.audios.set(info.sid, audio);
    this.el.append(audio);
  }

  /** @param {string} trackSid */
  remove(trackSid) {
    this.audios.get(trackSid)?.remove();
    this.audios.delete(trackSid);
  }

  /** Every remote audio track playing now. */
  tracks() {
    return [...this.audios.values()].flatMap((a) => /** @type {MediaStream} */ (a.srcObject).getAudioTracks());
  }
}
