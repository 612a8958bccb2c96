// The subscriber peer connection: carries everyone else's tracks from the server. The server
// makes every offer on it; each offer says which track and participant every m-line carries.
// It also carries the server's two data channels for chat and data messages: `moim`
// (reliable, ordered) and `moim-lossy`.

import { Emitter } from './events.js';

/** @typedef {import('./protocol.js').SubscribeOfferMessage} SubscribeOfferMessage */

/**
 * One received m-line bound to the remote track it carries.
 * @typedef {object} Subscription
 * @property {string} mid
 * @property {string} trackSid
 * @property {string} participantSid
 * @property {MediaStreamTrack} track
 * @property {RTCRtpReceiver} receiver
 */

/**
 * @typedef {object} SubscriberEvents
 * @property {[Subscription]} subscribed an m-line started carrying a track
 * @property {[Subscription]} unsubscribed an m-line stopped carrying it
 */

/**
 * @typedef {object} SubscriberOptions
 * @property {RTCConfiguration} rtcConfig
 * @property {(sdp: string) => void} sendAnswer
 * @property {(candidate: RTCIceCandidateInit) => void} onCandidate
 * @property {(state: RTCPeerConnectionState) => void} onConnectionState called when the
 *   connection's state changes (`disconnected`, `failed`: its network path is broken)
 * @property {(err: unknown) => void} onError an offer could not be applied
 * @property {(text: string) => void} onChannelMessage a message arrived on a data channel
 */

const RELIABLE_CHANNEL = 'moim';
const LOSSY_CHANNEL = 'moim-lossy';

/** @extends {Emitter<SubscriberEvents>} */
export class Subscriber extends Emitter {
  /** Current bindings by mid. @type {Map<string, Subscription>} */
  #byMid = new Map();
  /** Offers are applied strictly in arrival order. @type {Promise<void>} */
  #chain = Promise.resolve();
  /** Tracks announced unpublished; an offer sent before that news must not bind them again. */
  #gone = new Set();
  #closed = false;
  /** The server's data channels by label. @type {Map<string, RTCDataChannel>} */
  #channels = new Map();

  /** @param {SubscriberOptions} options */
  constructor(options) {
    super();
    this.options = options;
    /** @readonly */
    this.pc = new RTCPeerConnection(options.rtcConfig);
    this.pc.onicecandidate = (ev) => {
      if (ev.candidate) options.onCandidate(ev.candidate.toJSON());
    };
    this.pc.onconnectionstatechange = () => {
      if (!this.#closed) options.onConnectionState(this.pc.connectionState);
    };
    this.pc.ondatachannel = (ev) => {
      const channel = ev.channel;
      if (channel.label !== RELIABLE_CHANNEL && channel.label !== LOSSY_CHANNEL) return;
      this.#channels.set(channel.label, channel);
      channel.onmessage = (msg) => {
        if (typeof msg.data === 'string') options.onChannelMessage(msg.data);
      };
    };
  }

  /**
   * The open data channel to send on: the lossy one when `reliable` is false and it is open,
   * else the reliable one; null while neither is open.
   * @param {boolean} reliable
   * @returns {RTCDataChannel | null}
   */
  channel(reliable) {
    const lossy = this.#channels.get(LOSSY_CHANNEL);
    if (!reliable && lossy?.readyState === 'open') return lossy;
    const channel = this.#channels.get(RELIABLE_CHANNEL);
    return channel?.readyState === 'open' ? channel : null;
  }

  /** The subscriptions currently bound, one per active m-line. */
  get subscriptions() {
    return [...this.#byMid.values()];
  }

  /**
   * Applies a `subscribe_offer`, answers it, then binds every active m-line to its track.
   * Binding after the answer (rather than in `ontrack`) also catches an m-line that the
   * server reuses for another track, for which the browser fires no new `track` event.
   * @param {SubscribeOfferMessage} msg
   */
  handleOffer(msg) {
    this.#chain = this.#chain.then(async () => {
      if (this.#closed) return;
      try {
        await this.pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
        const answer = await this.pc.createAnswer();
        await this.pc.setLocalDescription(answer);
        if (this.#closed) return;
        this.options.sendAnswer(this.pc.localDescription?.sdp ?? answer.sdp ?? '');
        this.#bind(msg.tracks ?? []);
      } catch (err) {
        if (!this.#closed) this.options.onError(err);
      }
    });
    return this.#chain;
  }

  /**
   * Drops the binding of a track the server announced gone, without waiting for the offer
   * that removes its m-line.
   * @param {string} trackSid
   */
  forget(trackSid) {
    this.#gone.add(trackSid);
    for (const sub of this.#byMid.values()) {
      if (sub.trackSid === trackSid) this.#unbind(sub);
    }
  }

  /** Closes the connection; every binding is reported unsubscribed. */
  close() {
    this.#closed = true;
    for (const sub of [...this.#byMid.values()]) this.#unbind(sub);
    this.pc.close();
  }

  /** @param {import('./protocol.js').SubscribedMid[]} tracks */
  #bind(tracks) {
    const wanted = new Map(tracks.map((t) => [t.mid, t]));
    for (const sub of [...this.#byMid.values()]) {
      const want = wanted.get(sub.mid);
      if (!want || want.track !== sub.trackSid || want.participant !== sub.participantSid) {
        this.#unbind(sub);
      }
    }
    for (const transceiver of this.pc.getTransceivers()) {
      const mid = transceiver.mid;
      if (mid === null || this.#byMid.has(mid)) continue;
      const want = wanted.get(mid);
      const dir = transceiver.currentDirection;
      if (!want || this.#gone.has(want.track)) continue;
      if (dir !== 'recvonly' && dir !== 'sendrecv') continue;
      /** @type {Subscription} */
      const sub = {
        mid,
        trackSid: want.track,
        participantSid: want.participant,
        track: transceiver.receiver.track,
        receiver: transceiver.receiver,
      };
      this.#byMid.set(mid, sub);
      this.emit('subscribed', sub);
    }
  }

  /** @param {Subscription} sub */
  #unbind(sub) {
    if (this.#byMid.get(sub.mid) !== sub) return;
    this.#byMid.delete(sub.mid);
    this.emit('unsubscribed', sub);
  }
}
