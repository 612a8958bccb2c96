// Everyone else in the room as this client knows them: the participants and their tracks
// from the server's messages, matched with the subscriber connection's m-lines to report
// each received track once both sides are known.

import { RemoteParticipant } from './participant.js';

/** @typedef {import('./protocol.js').ParticipantInfo} ParticipantInfo */
/** @typedef {import('./protocol.js').ServerMessage} ServerMessage */
/** @typedef {import('./protocol.js').TrackInfo} TrackInfo */
/** @typedef {import('./subscriber.js').Subscription} Subscription */
/** @typedef {import('./room.js').RoomEvents} RoomEvents */

/**
 * @typedef {object} RosterOptions
 * @property {import('./events.js').Emitter<RoomEvents>['emit']} emit reports on the room
 * @property {() => string} localSid your own sid (your own announcements are skipped)
 * @property {(trackSid: string) => void} onTrackGone a track went away
 */

export class Roster {
  /** By participant sid. @type {Map<string, RemoteParticipant>} */
  participants = new Map();
  /** Bound m-lines whose track or participant was not announced yet. @type {Map<string, Subscription>} */
  #awaiting = new Map();
  /**
   * Subscriptions reported through `trackSubscribed`, by track sid.
   * @type {Map<string, { sub: Subscription, participant: RemoteParticipant, info: TrackInfo }>}
   */
  #subscribed = new Map();
  #options;

  /** @param {RosterOptions} options */
  constructor(options) {
    this.#options = options;
  }

  /**
   * Applies a participant or track message; false for other messages.
   * @param {ServerMessage} msg
   */
  handle(msg) {
    const emit = this.#options.emit;
    switch (msg.type) {
      case 'participant_joined':
        if (msg.participant.sid !== this.#options.localSid()) this.upsert(msg.participant);
        return true;
      case 'participant_left': {
        const participant = this.participants.get(msg.sid);
        if (participant) this.#remove(participant);
        return true;
      }
      case 'track_published': {
        const participant = this.participants.get(msg.participant);
        if (!participant) return true;
        const info = { ...msg.track };
        participant.tracks.set(info.sid, info);
        emit('trackPublished', info, participant);
        this.#announce();
        return true;
      }
      case 'track_unpublished': {
        const participant = this.participants.get(msg.participant);
        const info = participant?.tracks.get(msg.track);
        if (participant && info) this.#removeTrack(participant, info);
        return true;
      }
      case 'track_muted': {
        const participant = this.participants.get(msg.participant);
        const info = participant?.tracks.get(msg.track);
        if (!participant || !info || info.muted === msg.muted) return true;
        info.muted = msg.muted;
        emit('trackMuted', info, participant);
        return true;
      }
      case 'subscription_paused': {
        const participant = this.participants.get(msg.participant);
        const info = participant?.tracks.get(msg.track);
        if (!participant || !info || Boolean(info.paused) === msg.paused) return true;
        info.paused = msg.paused;
        emit('trackPaused', info, participant);
        return true;
      }
      default:
        return false;
    }
  }

  /**
   * Brings the list in line with a `joined` message: after a rejoin, people who left
   * meanwhile are removed and tracks that changed are reported.
   * @param {ParticipantInfo[]} infos
   */
  sync(infos) {
    const present = new Set(infos.map((p) => p.sid));
    for (const participant of [...this.participants.values()]) {
      if (!present.has(participant.sid)) this.#remove(participant);
    }
    for (const info of infos) this.upsert(info);
  }

  /** @param {ParticipantInfo} info */
  upsert(info) {
    const emit = this.#options.emit;
    let participant = this.participants.get(info.sid);
    if (!participant) {
      // The same identity under a new sid is a reconnection that replaced the old session.
      for (const other of [...this.participants.values()]) {
        if (other.identity === info.identity) this.#remove(other);
      }
      participant = new RemoteParticipant({ ...info, tracks: [] });
      this.participants.set(participant.sid, participant);
      emit('participantJoined', participant);
    } else {
      participant.name = info.name || info.identity;
      participant.role = info.role;
      participant.handRaised = info.hand_raised ?? false;
      participant.quality = info.quality ?? participant.quality;
    }
    const tracks = info.tracks ?? [];
    const current = new Set(tracks.map((t) => t.sid));
    for (const old of [...participant.tracks.values()]) {
      if (!current.has(old.sid)) this.#removeTrack(participant, old);
    }
    for (const track of tracks) {
      const known = participant.tracks.get(track.sid);
      if (!known) {
        const added = { ...track };
        participant.tracks.set(added.sid, added);
        emit('trackPublished', added, participant);
      } else if (known.muted !== track.muted) {
        known.muted = track.muted;
        emit('trackMuted', known, participant);
      }
    }
    this.#announce();
  }

  /**
   * The subscriber connection bound an m-line to a track.
   * @param {Subscription} sub
   */
  subscribed(sub) {
    this.#awaiting.set(sub.trackSid, sub);
    this.#announce();
  }

  /** @param {Subscription} sub */
  unsubscribed(sub) {
    if (this.#awaiting.get(sub.trackSid) === sub) this.#awaiting.delete(sub.trackSid);
    const entry = this.#subscribed.get(sub.trackSid);
    if (!entry || entry.sub !== sub) return;
    this.#subscribed.delete(sub.trackSid);
    this.#options.emit('trackUnsubscribed', sub.track, entry.participant, entry.info);
  }

  /** The subscriber connection closed: its bound m-lines are gone. */
  forgetBindings() {
    this.#awaiting.clear();
  }

  /** The session ended for good. */
  clear() {
    this.participants.clear();
    this.#subscribed.clear();
    this.#awaiting.clear();
  }

  /** @param {RemoteParticipant} participant */
  #remove(participant) {
    for (const info of [...participant.tracks.values()]) this.#removeTrack(participant, info);
    this.participants.delete(participant.sid);
    this.#options.emit('participantLeft', participant);
  }

  /**
   * @param {RemoteParticipant} participant
   * @param {TrackInfo} info
   */
  #removeTrack(participant, info) {
    this.#options.onTrackGone(info.sid);
    this.#awaiting.delete(info.sid);
    participant.tracks.delete(info.sid);
    this.#options.emit('trackUnpublished', info, participant);
  }

  /** Reports bound m-lines whose participant and track are both known. */
  #announce() {
    for (const [trackSid, sub] of [...this.#awaiting]) {
      const participant = this.participants.get(sub.participantSid);
      const info = participant?.tracks.get(trackSid);
      if (!participant || !info) continue;
      this.#awaiting.delete(trackSid);
      this.#subscribed.set(trackSid, { sub, participant, info });
      this.#options.emit('trackSubscribed', sub.track, participant, info);
    }
  }
}
