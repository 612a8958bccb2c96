// What the client knows about the people in the room: the remote participants as the server
// announced them, and the local participant's own identity.

/** @typedef {import('./protocol.js').ParticipantInfo} ParticipantInfo */
/** @typedef {import('./protocol.js').ParticipantRole} ParticipantRole */
/** @typedef {import('./protocol.js').TrackInfo} TrackInfo */
/** @typedef {import('./protocol.js').ConnectionQuality} ConnectionQuality */

/** Someone else in the room and the tracks they publish. */
export class RemoteParticipant {
  /** @param {ParticipantInfo} info */
  constructor(info) {
    /** Server-made id (`PA_…`); a reconnecting participant may come back with a new one. */
    this.sid = info.sid;
    /** The identity from the participant's token; stable across reconnections. */
    this.identity = info.identity;
    /** Display name. */
    this.name = info.name || info.identity;
    /** @type {ParticipantRole} */
    this.role = info.role;
    /** Published tracks by track sid. @type {Map<string, TrackInfo>} */
    this.tracks = new Map(info.tracks.map((t) => [t.sid, { ...t }]));
    /** Asks to speak (audio rooms). */
    this.handRaised = info.hand_raised ?? false;
    /** How well its connection carries its media; null until measured. @type {ConnectionQuality | null} */
    this.quality = info.quality ?? null;
  }

  /**
   * The first published track of a source, if any.
   * @param {import('./protocol.js').TrackSource} source
   * @returns {TrackInfo | undefined}
   */
  trackBySource(source) {
    for (const track of this.tracks.values()) if (track.source === source) return track;
    return undefined;
  }
}

/** The participant this client joined as. */
export class LocalParticipant {
  constructor() {
    this.sid = '';
    this.identity = '';
    this.name = '';
    /** @type {ParticipantRole} */
    this.role = 'guest';
    this.handRaised = false;
    /** How well your connection carries your media; null until measured. @type {ConnectionQuality | null} */
    this.quality = null;
  }

  /** Whether it may publish now (a listener of an audio room may not until promoted). */
  get canPublish() {
    return this.role !== 'viewer';
  }

  /** @param {ParticipantInfo} info */
  update(info) {
    this.sid = info.sid;
    this.identity = info.identity;
    this.name = info.name || info.identity;
    this.role = info.role;
    this.handRaised = info.hand_raised ?? false;
    this.quality = info.quality ?? this.quality;
  }
}
