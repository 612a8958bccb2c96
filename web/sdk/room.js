// A Room is one client's session in a meeting: it joins over signaling, keeps the list of
// participants and their tracks, publishes local tracks, reports received ones, and rejoins
// on its own when the connection drops.

import { Emitter } from './events.js';
import { MoimError, asMoimError } from './errors.js';
import { Chat } from './chat.js';
import { Moderation } from './moderation.js';
import { LocalParticipant } from './participant.js';
import { Roster } from './roster.js';
import { Polls } from './polls.js';
import { ServerRecording } from './recording.js';
import { LiveBroadcast } from './broadcast.js';
import { Recovery } from './recovery.js';
import { LocalTrackPublication, Publisher } from './publisher.js';
import { SignalClient, signalUrl } from './signal.js';
import { Subscriber } from './subscriber.js';
import { Whiteboard } from './whiteboard.js';

/** @typedef {import('./protocol.js').TrackInfo} TrackInfo */
/** @typedef {import('./protocol.js').TrackSource} TrackSource */
/** @typedef {import('./protocol.js').ParticipantInfo} ParticipantInfo */
/** @typedef {import('./protocol.js').JoinedMessage} JoinedMessage */
/** @typedef {import('./protocol.js').RoomSettings} RoomSettings */
/** @typedef {import('./protocol.js').ServerMessage} ServerMessage */
/** @typedef {import('./protocol.js').Sender} Sender */
/** @typedef {import('./participant.js').RemoteParticipant} RemoteParticipant */

/** @typedef {'connecting' | 'connected' | 'reconnecting' | 'disconnected'} ConnectionState */

/**
 * @typedef {object} RoomEvents
 * @property {[ConnectionState]} connectionState
 * @property {[RemoteParticipant]} participantJoined
 * @property {[RemoteParticipant]} participantLeft
 * @property {[TrackInfo, RemoteParticipant]} trackPublished
 * @property {[TrackInfo, RemoteParticipant]} trackUnpublished
 * @property {[TrackInfo, RemoteParticipant]} trackMuted `TrackInfo.muted` holds the new state
 * @property {[TrackInfo, RemoteParticipant]} trackPaused the server paused a video you receive
 *   because your connection cannot carry it now, or resumed it (`TrackInfo.paused`)
 * @property {[MediaStreamTrack, RemoteParticipant, TrackInfo]} trackSubscribed
 * @property {[MediaStreamTrack, RemoteParticipant, TrackInfo]} trackUnsubscribed
 * @property {[string[]]} activeSpeakers sids of the participants speaking now (yours too), the
 *   most recent to start first
 * @property {[{ source: TrackSource, muted: boolean, locked: boolean }]} mutedByHost a host
 *   muted one of your tracks (`locked`: you cannot unmute it until allowed), or allowed you
 *   to unmute it (`muted: false`)
 * @property {[string, DataInfo]} data an application message: its payload, and where from
 * @property {[import('./protocol.js').WaitingMessage]} waiting the room has a waiting room:
 *   `connect()` resolves once a host admits you (rejects with `rejected` if not)
 * @property {[RoomSettings]} settings a host changed the room's settings
 * @property {[RemoteParticipant | LocalParticipant]} participantUpdated a role or raised hand
 *   changed (yours too: a listener promoted to speaker may publish now; a speaker made
 *   listener has its tracks unpublished)
 * @property {[RemoteParticipant | LocalParticipant]} connectionQuality a participant's
 *   connection quality changed (yours too); see its `quality`
 * @property {[import('./protocol.js').NetworkStats]} networkStats your own connection's
 *   numbers, every two seconds (also in `room.networkStats`)
 * @property {[MoimError]} error
 */

/**
 * @typedef {object} DataInfo
 * @property {Sender} [from] absent when the application server sent it
 * @property {string} [topic]
 */

/**
 * @typedef {object} SendDataOptions
 * @property {string} [topic] lets receivers tell streams of messages apart
 * @property {string[]} [to] identities to send to; everyone else in the room when absent
 * @property {boolean} [reliable] false allows loss for lower delay (default true)
 */

/**
 * @typedef {object} RoomOptions
 * @property {string} [url] http(s) base URL of the server; defaults to the page's origin
 * @property {RTCConfiguration} [rtcConfig] extra peer connection settings
 * @property {boolean} [reconnect] rejoin automatically after a lost connection (default true)
 */

/**
 * @typedef {object} PublishOptions
 * @property {TrackSource} source
 * @property {boolean} [muted] publish muted (the track is disabled and the server told so)
 */

/**
 * @typedef {object} Timings `performance.now()` marks of the latest (re)join
 * @property {number} [signalStart] the WebSocket was created
 * @property {number} [signalOpen] the WebSocket opened
 * @property {number} [joined] `joined` arrived
 */

/** @typedef {{ width: number, height: number, sent: string, timer?: ReturnType<typeof setTimeout> }} VideoSize */

const VIDEO_SIZE_DEBOUNCE_MS = 200;
/** How many times in a row a cluster may send a join to another node. */
const MAX_MOVES = 3;
/** Errors after which the server closes the connection: the session ends, no reconnecting. */
const SESSION_ENDING_CODES = new Set(['replaced', 'removed', 'banned', 'meeting_ended']);

/** @extends {Emitter<RoomEvents>} */
export class Room extends Emitter {
  /** @type {ConnectionState} */
  #state = 'disconnected';
  #token = '';
  /** @type {SignalClient} */
  #signal;
  /** @type {Publisher | null} */
  #publisher = null;
  /** @type {Subscriber | null} */
  #subscriber = null;
  /** True once `joined` arrived on the current session and its media connections are in use. */
  #live = false;
  /** @type {LocalTrackPublication[]} */
  #publications = [];
  #roster = new Roster({
    emit: (name, ...args) => this.emit(name, ...args),
    localSid: () => this.localParticipant.sid,
    onTrackGone: (trackSid) => this.#onTrackGone(trackSid),
  });
  /** @type {Map<string, VideoSize>} */
  #videoSizes = new Map();
  /** @type {Timings} */
  #timings = {};
  /** @type {string[]} */
  #speakers = [];
  /** @type {RoomSettings} */
  #settings = { locked: false, waiting_room: false, mode: 'meeting' };
  /** Sids of your tracks a host muted and locked. @type {Set<string>} */
  #locked = new Set();
  #nextDataId = 1;
  /** TURN servers from the last join. @type {RTCIceServer[]} */
  #iceServers = [];
  /** @type {Recovery} */
  #recovery;

  /** @param {RoomOptions} [options] */
  constructor(options = {}) {
    super();
    const base = options.url ?? globalThis.location?.origin;
    if (!base) throw new MoimError('invalid_argument', 'Room needs a server URL.');
    this.options = {
      reconnect: options.reconnect ?? true,
      // Not max-bundle: an offer whose m-lines are all rejected carries no BUNDLE group, and
      // max-bundle refuses such an offer.
      /** @type {RTCConfiguration} */
      rtcConfig: { ...options.rtcConfig },
    };
    /** The room's name, known once joined. */
    this.name = '';
    /** @readonly */
    this.localParticipant = new LocalParticipant();
    /** Your own connection's latest numbers. @type {import('./protocol.js').NetworkStats | null} */
    this.networkStats = null;
    this.#signal = new SignalClient(signalUrl(base));
    this.#signal.on('message', (msg) => this.#onMessage(msg));
    this.#recovery = new Recovery(this.#signal, {
      state: () => this.#state,
      setState: (state) => this.#setState(state),
      reconnects: () => this.options.reconnect,
      live: () => this.#live,
      publisher: () => (this.#live ? (this.#publisher?.pc ?? null) : null),
      mediaStates: () => [this.#publisher?.pc.connectionState, this.#subscriber?.pc.connectionState],
      sid: () => this.localParticipant.sid,
      renegotiate: () => this.#negotiate().catch((err) => this.#reportError(err)),
      join: async () => {
        await this.#join();
      },
      closeMedia: () => this.#closeMedia(),
      end: (error) => this.#end(error),
    });
    /** The room's chat. @readonly */
    this.chat = new Chat(this.#signal, () => this.#channelSender(true));
    /** The room's polls. @readonly */
    this.polls = new Polls(this.#signal);
    /** What hosts do to the meeting. @readonly */
    this.moderation = new Moderation(this.#signal);
    /** Server recordings of the room. @readonly */
    this.recording = new ServerRecording(this.#signal);
    /** The room's live broadcast. @readonly */
    this.broadcast = new LiveBroadcast(this.#signal);
    /** The shared whiteboard. @readonly */
    this.whiteboard = new Whiteboard(this.#signal, () => (this.#live ? this.localParticipant.sid : ''));
  }

  /** ICE restarts so far (the network changed under a connection). */
  get iceRestarts() {
    return this.#recovery.iceRestarts;
  }

  /** @returns {ConnectionState} */
  get state() {
    return this.#state;
  }

  /** Everyone else in the room, by participant sid. @returns {ReadonlyMap<string, RemoteParticipant>} */
  get participants() {
    return this.#roster.participants;
  }

  /** The room's settings (lock, waiting room, mode). */
  get settings() {
    return { ...this.#settings };
  }

  /**
   * Raises or lowers your hand (in an audio room: asks the hosts to let you speak).
   * @param {boolean} raised
   */
  raiseHand(raised) {
    return this.#signal.send({ type: 'raise_hand', raised });
  }

  /** The local tracks being published (also kept while reconnecting). */
  get publications() {
    return [...this.#publications];
  }

  /** The publisher peer connection of the current session, for diagnostics. */
  get publisherPc() {
    return this.#publisher?.pc ?? null;
  }

  /** The subscriber peer connection of the current session, for diagnostics. */
  get subscriberPc() {
    return this.#subscriber?.pc ?? null;
  }

  /** The signaling client, for diagnostics (e.g. closing its socket to test reconnection). */
  get signal() {
    return this.#signal;
  }

  /** Sids of the participants speaking now, the most recent to start first. */
  get activeSpeakers() {
    return [...this.#speakers];
  }

  /**
   * Sends an application message (any text, e.g. JSON). Returns false when not connected;
   * a refusal (`rate_limited`, `message_too_large`, `not_found`) arrives as an `error` event.
   * @param {string} payload
   * @param {SendDataOptions} [options]
   */
  sendData(payload, options = {}) {
    const reliable = options.reliable ?? true;
    /** @type {import('./protocol.js').ClientMessage} */
    const msg = {
      type: 'data',
      id: `d${this.#nextDataId++}`,
      payload,
      ...(options.topic !== undefined ? { topic: options.topic } : {}),
      ...(options.to ? { to: options.to } : {}),
      reliable,
    };
    const via = this.#channelSender(reliable);
    if (!via) return this.#signal.send(msg);
    via(JSON.stringify(msg));
    return true;
  }

  /** Whether chat and data travel on the data channel (else on the signaling socket). */
  get dataChannelOpen() {
    return this.#subscriber?.channel(true) != null;
  }

  /**
   * How to send a chat or data message on the data channel, or null to use signaling.
   * @param {boolean} reliable
   * @returns {((text: string) => void) | null}
   */
  #channelSender(reliable) {
    const channel = this.#subscriber?.channel(reliable);
    return channel ? (text) => channel.send(text) : null;
  }

  /** @returns {Timings} */
  get timings() {
    return { ...this.#timings };
  }

  /**
   * Joins the room. Rejects with a {@link MoimError} whose `code` is the server's error code
   * (e.g. `invalid_token`) or `connection_failed` when the server cannot be reached.
   * @param {string} token an access token for this room
   * @returns {Promise<JoinedMessage>}
   */
  async connect(token) {
    if (this.#state !== 'disconnected') {
      throw new MoimError('invalid_state', 'The room is already connected or connecting.');
    }
    this.#token = token;
    this.#setState('connecting');
    try {
      await this.#signal.open();
      const joined = await this.#join();
      this.#setState('connected');
      return joined;
    } catch (err) {
      this.#end(null);
      throw asMoimError(err);
    }
  }

  /**
   * Publishes a local track. Cameras are sent in three simulcast layers. Resolves once the
   * server answered (the publication's `sid` is then set); while reconnecting, resolves at
   * once and the track goes out with the rejoin.
   * @param {MediaStreamTrack} track
   * @param {PublishOptions} options
   * @returns {Promise<LocalTrackPublication>}
   */
  async publishTrack(track, options) {
    if (this.#publications.some((p) => p.track === track)) {
      throw new MoimError('invalid_argument', 'This track is already published.');
    }
    const muted = options.muted ?? false;
    const pub = new LocalTrackPublication(track, options.source, muted);
    track.enabled = !muted;
    this.#publications.push(pub);
    if (!this.#live || !this.#publisher) return pub;
    this.#publisher.add([pub]);
    try {
      await this.#negotiate();
    } catch (err) {
      if (this.#publications.includes(pub)) await this.unpublishTrack(pub).catch(() => {});
      throw asMoimError(err);
    }
    return pub;
  }

  /**
   * Stops publishing a track; the server unpublishes it for everyone. The track itself is
   * not stopped.
   * @param {MediaStreamTrack | LocalTrackPublication} trackOrPublication
   */
  async unpublishTrack(trackOrPublication) {
    const pub = this.#publications.find(
      (p) => p === trackOrPublication || p.track === trackOrPublication,
    );
    if (!pub) return;
    this.#publications.splice(this.#publications.indexOf(pub), 1);
    if (!this.#live || !this.#publisher) return;
    this.#publisher.remove(pub);
    await this.#negotiate();
  }

  /**
   * Mutes or unmutes the local tracks of a source: the track is disabled and the server stops
   * forwarding it.
   * @param {TrackSource} source
   * @param {boolean} muted
   */
  setMuted(source, muted) {
    if (!muted && this.#publications.some((pub) => pub.source === source && this.#locked.has(pub.sid ?? ''))) {
      throw new MoimError('permission_denied', 'A host muted this; you can unmute it once the host allows it.');
    }
    for (const pub of this.#publications) {
      if (pub.source !== source) continue;
      pub.muted = muted;
      pub.track.enabled = !muted;
      if (this.#live && pub.sid && pub.serverMuted !== muted) this.#sendMute(pub);
    }
  }

  /**
   * Tells the server how large a remote video is shown, so it can pick the simulcast layer.
   * The first size of a track goes out at once, later changes after a short pause.
   * @param {string} trackSid
   * @param {number} width pixels; 0 with height 0 means not shown
   * @param {number} height
   */
  setVideoSize(trackSid, width, height) {
    let size = this.#videoSizes.get(trackSid);
    if (!size) {
      size = { width: 0, height: 0, sent: '' };
      this.#videoSizes.set(trackSid, size);
    }
    size.width = Math.max(0, Math.round(width));
    size.height = Math.max(0, Math.round(height));
    clearTimeout(size.timer);
    if (size.sent === '') {
      this.#flushVideoSize(trackSid);
    } else {
      size.timer = setTimeout(() => this.#flushVideoSize(trackSid), VIDEO_SIZE_DEBOUNCE_MS);
    }
  }

  /** Leaves the room. Local tracks are kept; the caller stops them if it wants. */
  async leave() {
    if (this.#state === 'disconnected') return;
    this.#signal.send({ type: 'leave' });
    this.#end(null);
  }

  /** Opens fresh peer connections and sends `join` on the open socket. */
  async #join() {
    this.#closeMedia();
    this.#openMedia();
    /** @typedef {import('./protocol.js').WaitingMessage | import('./protocol.js').MovedMessage} NotYetJoined */
    let reply = /** @type {JoinedMessage | NotYetJoined} */ (await this.#signal.join(this.#token));
    // A cluster sends the client to the node hosting the room, once or (while rooms move)
    // a few times.
    for (let hops = 0; reply.type === 'moved'; hops += 1) {
      if (hops === MAX_MOVES) throw new MoimError('connection_failed', `Room ${reply.room} kept moving between nodes.`);
      await this.#signal.moveTo(reply.url);
      reply = /** @type {JoinedMessage | NotYetJoined} */ (await this.#signal.join(this.#token));
    }
    let joined;
    if (reply.type === 'waiting') {
      this.emit('waiting', reply);
      joined = await this.#signal.expect('joined');
    } else {
      joined = reply;
    }
    this.#timings = {
      signalStart: this.#signal.timings.start,
      signalOpen: this.#signal.timings.open,
      joined: performance.now(),
    };
    this.#signal.resetBackoff();
    this.#useIceServers(joined.ice_servers ?? []);
    this.#recovery.resumeKey = joined.resume ?? '';
    this.name = joined.room;
    this.localParticipant.update(joined.participant);
    this.#roster.sync(joined.participants ?? []);
    for (const message of joined.chat ?? []) this.chat.add(message);
    for (const poll of joined.polls ?? []) this.polls.update(poll);
    this.#settings = joined.settings;
    this.whiteboard.load(joined.board ?? []);
    this.recording.update(joined.recording ?? null);
    this.broadcast.update(joined.broadcast ?? null);
    this.moderation.setWaiting(joined.waiting ?? []);
    this.#live = true;
    this.#recovery.start();
    const publisher = /** @type {Publisher} */ (this.#publisher);
    if (this.#publications.length > 0) {
      publisher.add(this.#publications);
      this.#negotiate().catch((err) => this.#reportError(err));
    }
    for (const [trackSid, size] of this.#videoSizes) {
      size.sent = '';
      this.#flushVideoSize(trackSid);
    }
    return joined;
  }

  /**
   * Gives both connections the TURN servers the server offers with this join (unless the
   * application set its own), before they gather candidates: the way in for a network
   * that blocks the media ports.
   * @param {import('./protocol.js').IceServer[]} servers
   */
  #useIceServers(servers) {
    if (this.options.rtcConfig.iceServers) return;
    this.#iceServers = servers;
    for (const pc of [this.#publisher?.pc, this.#subscriber?.pc]) {
      pc?.setConfiguration({ ...pc.getConfiguration(), iceServers: servers });
    }
  }

  /** Peer connection settings: the application's, with the server's TURN servers. */
  #rtcConfig() {
    return { iceServers: this.#iceServers, ...this.options.rtcConfig };
  }

  #newPublisher() {
    const signal = this.#signal;
    return new Publisher({
      rtcConfig: this.#rtcConfig(),
      sendOffer: (sdp, tracks) =>
        signal.request({ type: 'publish_offer', sdp, tracks }, 'publish_answer'),
      onCandidate: (candidate) => signal.send({ type: 'candidate', target: 'publisher', candidate }),
      onConnectionState: () => this.#recovery.mediaStateChanged(),
    });
  }

  #openMedia() {
    const signal = this.#signal;
    this.#publisher = this.#newPublisher();
    const subscriber = new Subscriber({
      rtcConfig: this.#rtcConfig(),
      sendAnswer: (sdp) => signal.send({ type: 'subscribe_answer', sdp }),
      onCandidate: (candidate) => signal.send({ type: 'candidate', target: 'subscriber', candidate }),
      onConnectionState: () => this.#recovery.mediaStateChanged(),
      onError: (err) => this.#reportError(err),
      onChannelMessage: (text) => signal.deliver(text),
    });
    subscriber.on('subscribed', (sub) => this.#roster.subscribed(sub));
    subscriber.on('unsubscribed', (sub) => this.#roster.unsubscribed(sub));
    this.#subscriber = subscriber;
  }

  /** Closes both peer connections; every received track is reported unsubscribed. */
  #closeMedia() {
    this.#live = false;
    this.#recovery.stop();
    this.#subscriber?.close();
    this.#subscriber = null;
    this.#publisher?.close();
    this.#publisher = null;
    for (const pub of this.#publications) {
      pub.transceiver = null;
      pub.sid = '';
    }
    this.#roster.forgetBindings();
  }

  async #negotiate() {
    const publisher = this.#publisher;
    if (!publisher) return;
    await publisher.negotiate();
    // A mute toggled while the offer was in flight has not reached the server yet.
    for (const pub of publisher.publications) {
      if (pub.sid && pub.muted !== pub.serverMuted) this.#sendMute(pub);
    }
  }

  /** @param {LocalTrackPublication} pub */
  #sendMute(pub) {
    if (this.#signal.send({ type: 'mute', track: pub.sid, muted: pub.muted })) {
      pub.serverMuted = pub.muted;
    }
  }

  /** @param {string} trackSid */
  #flushVideoSize(trackSid) {
    const size = this.#videoSizes.get(trackSid);
    if (!size || !this.#live) return;
    const key = `${size.width}x${size.height}`;
    if (key === size.sent) return;
    if (this.#signal.send({ type: 'video_size', track: trackSid, width: size.width, height: size.height })) {
      size.sent = key;
    }
  }

  /** @param {ServerMessage} msg */
  #onMessage(msg) {
    if (this.#state === 'disconnected' || this.whiteboard.handle(msg)) return;
    if (this.#roster.handle(msg)) {
      if (msg.type === 'participant_left') {
        this.whiteboard.dropPointer(msg.sid);
        if (this.#speakers.includes(msg.sid)) this.#setSpeakers(this.#speakers.filter((s) => s !== msg.sid));
      }
      return;
    }
    switch (msg.type) {
      case 'subscribe_offer':
        this.#subscriber?.handleOffer(msg);
        break;
      case 'chat':
        this.chat.add(msg.message);
        break;
      case 'active_speakers':
        this.#setSpeakers(msg.speakers);
        break;
      case 'poll':
        this.polls.update(msg.poll);
        break;
      case 'recording':
        this.recording.update(msg.recording ?? null, msg.reason);
        break;
      case 'broadcast':
        this.broadcast.update(msg.broadcast ?? null, msg.playback, msg.reason);
        break;
      case 'waiting_list':
        this.moderation.setWaiting(msg.waiting);
        break;
      case 'room_settings':
        this.#settings = msg.settings;
        this.emit('settings', { ...msg.settings });
        break;
      case 'participant_updated':
        this.#onParticipantUpdated(msg.participant);
        break;
      case 'connection_quality': {
        const local = msg.participant === this.localParticipant.sid;
        const participant = local ? this.localParticipant : this.#roster.participants.get(msg.participant);
        if (!participant) break;
        participant.quality = msg.quality;
        this.emit('connectionQuality', participant);
        break;
      }
      case 'network_stats':
        this.networkStats = msg.stats;
        this.emit('networkStats', msg.stats);
        break;
      case 'publish_layers':
        this.#publications.find((p) => p.sid === msg.track)?.setLayers(msg.layers);
        break;
      case 'muted_by_host': {
        const pub = this.#publications.find((p) => p.sid === msg.track);
        if (!pub) break;
        if (msg.muted) {
          pub.muted = true;
          pub.serverMuted = true;
          pub.track.enabled = false;
        }
        if (msg.locked) this.#locked.add(msg.track);
        else this.#locked.delete(msg.track);
        this.emit('mutedByHost', { source: pub.source, muted: msg.muted, locked: msg.locked });
        break;
      }
      case 'reconnect':
        this.#recovery.leaveNode();
        break;
      case 'data':
        this.emit('data', msg.payload, {
          ...(msg.from ? { from: msg.from } : {}),
          ...(msg.topic !== undefined ? { topic: msg.topic } : {}),
        });
        break;
      case 'error': {
        const error = new MoimError(msg.code, msg.message);
        if (SESSION_ENDING_CODES.has(msg.code)) {
          this.#end(error);
        } else if (msg.code !== 'unknown_track') {
          // `unknown_track` answers a `mute` or `video_size` that crossed the track's removal
          // on the wire; the `track_unpublished` around it already tells what happened.
          this.emit('error', error);
        }
        break;
      }
      default:
        break;
    }
  }

  /** @param {string[]} speakers */
  #setSpeakers(speakers) {
    this.#speakers = speakers;
    this.emit('activeSpeakers', [...speakers]);
  }

  /** @param {ParticipantInfo} info */
  #onParticipantUpdated(info) {
    if (info.sid !== this.localParticipant.sid) {
      const participant = this.#roster.participants.get(info.sid);
      if (!participant) return;
      participant.role = info.role;
      participant.handRaised = info.hand_raised ?? false;
      this.emit('participantUpdated', participant);
      return;
    }
    const could = this.localParticipant.canPublish;
    this.localParticipant.update(info);
    if (could && !this.localParticipant.canPublish && this.#live) {
      // The server closed the publisher connection; a fresh one waits for a promotion.
      this.#publications = [];
      this.#publisher?.close();
      this.#publisher = this.#newPublisher();
    }
    this.emit('participantUpdated', this.localParticipant);
  }

  /**
   * A remote track went away: its m-line binding and size reports go with it.
   * @param {string} trackSid
   */
  #onTrackGone(trackSid) {
    this.#subscriber?.forget(trackSid);
    const size = this.#videoSizes.get(trackSid);
    clearTimeout(size?.timer);
    this.#videoSizes.delete(trackSid);
  }

  /**
   * Ends the session for good.
   * @param {MoimError | null} error reported through `error` when not null
   */
  #end(error) {
    this.#recovery.abort();
    this.#signal.close();
    this.#closeMedia();
    for (const size of this.#videoSizes.values()) clearTimeout(size.timer);
    this.#videoSizes.clear();
    this.#roster.clear();
    if (error) this.emit('error', error);
    this.#setState('disconnected');
  }

  /** @param {unknown} err */
  #reportError(err) {
    const error = asMoimError(err);
    // Requests cut short by a lost connection are redone by the rejoin.
    if (error.code === 'connection_closed' || this.#state !== 'connected') return;
    this.emit('error', error);
  }

  /** @param {ConnectionState} state */
  #setState(state) {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('connectionState', state);
  }
}
