// The publisher peer connection: carries the local participant's tracks to the server. The
// client makes every offer on it, one negotiation at a time.

/** @typedef {import('./protocol.js').TrackSource} TrackSource */
/** @typedef {import('./protocol.js').PublishedMid} PublishedMid */
/** @typedef {import('./protocol.js').PublishAnswerMessage} PublishAnswerMessage */
/** @typedef {import('./protocol.js').LayerActive} LayerActive */

/** Simulcast layers for cameras: quarter, half and full resolution. */
export const CAMERA_SIMULCAST = Object.freeze([
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', maxBitrate: 1_700_000 },
]);

/** A local track and what the server knows of it. */
export class LocalTrackPublication {
  /**
   * @param {MediaStreamTrack} track
   * @param {TrackSource} source
   * @param {boolean} muted
   */
  constructor(track, source, muted) {
    /** @readonly */
    this.track = track;
    /** @readonly */
    this.source = source;
    /** @readonly */
    this.kind = /** @type {'audio' | 'video'} */ (track.kind);
    this.muted = muted;
    /** The sid the server gave the track; empty until a `publish_answer` names it. */
    this.sid = '';
    /** The muted state the server was last told, to know whether a `mute` must follow. */
    this.serverMuted = muted;
    /** @type {RTCRtpTransceiver | null} */
    this.transceiver = null;
    /** The last change of the layers sent, so changes apply one after another. */
    this.layersChanged = Promise.resolve();
  }

  /**
   * Sends only the layers the server asks for (dynacast): it pauses those taller than
   * anyone receives, and every layer of a video nobody receives, so the encoder does not
   * make them. A layer the server does not name is left as it is.
   * @param {LayerActive[]} layers
   * @returns {Promise<void>}
   */
  setLayers(layers) {
    const sender = this.transceiver?.sender;
    if (!sender) return this.layersChanged;
    this.layersChanged = this.layersChanged
      .then(async () => {
        const params = sender.getParameters();
        let changed = false;
        for (const encoding of params.encodings ?? []) {
          const layer = layers.find((l) => (l.rid ?? undefined) === encoding.rid);
          if (layer && encoding.active !== layer.active) {
            encoding.active = layer.active;
            changed = true;
          }
        }
        if (changed) await sender.setParameters(params);
      })
      .catch(() => {});
    return this.layersChanged;
  }

  /** The m-line the track is sent on, once negotiated. */
  get mid() {
    return this.transceiver?.mid ?? null;
  }
}

/**
 * @typedef {object} PublisherOptions
 * @property {RTCConfiguration} rtcConfig
 * @property {(sdp: string, tracks: PublishedMid[]) => Promise<PublishAnswerMessage>} sendOffer
 * @property {(candidate: RTCIceCandidateInit) => void} onCandidate
 * @property {(state: RTCPeerConnectionState) => void} onConnectionState called when the
 *   connection's state changes (`disconnected`, `failed`: its network path is broken)
 */

export class Publisher {
  /** @type {LocalTrackPublication[]} */
  #publications = [];
  /** @type {Promise<void> | null} */
  #running = null;
  /** @type {Promise<void> | null} */
  #queued = null;
  #closed = false;

  /** @param {PublisherOptions} options */
  constructor(options) {
    this.options = options;
    /** @readonly */
    this.pc = new RTCPeerConnection(options.rtcConfig);
    this.pc.onicecandidate = (ev) => {
      if (ev.candidate) options.onCandidate(ev.candidate.toJSON());
    };
    this.pc.onconnectionstatechange = () => {
      if (!this.#closed) options.onConnectionState(this.pc.connectionState);
    };
  }

  /** The publications currently sent on this connection. */
  get publications() {
    return [...this.#publications];
  }

  /**
   * Adds transceivers for publications without negotiating; call {@link negotiate} after.
   * @param {LocalTrackPublication[]} publications
   */
  add(publications) {
    for (const pub of publications) {
      /** @type {RTCRtpTransceiverInit} */
      const init = { direction: 'sendonly' };
      if (pub.source === 'camera') init.sendEncodings = CAMERA_SIMULCAST.map((e) => ({ ...e }));
      pub.sid = '';
      pub.transceiver = this.pc.addTransceiver(pub.track, init);
      this.#publications.push(pub);
    }
  }

  /**
   * Stops sending a publication; call {@link negotiate} after, which leaves it out of the
   * tracks declared to the server (the server unpublishes it). Its m-line is stopped,
   * except the connection's first: the others are bundled on that one's transport, and
   * stopping it would make the browser start a new transport the server does not know,
   * cutting every other track off. The first goes inactive instead and stays unused.
   * @param {LocalTrackPublication} pub
   */
  remove(pub) {
    const index = this.#publications.indexOf(pub);
    if (index < 0) return;
    this.#publications.splice(index, 1);
    const transceiver = pub.transceiver;
    pub.transceiver = null;
    if (!transceiver) return;
    if (transceiver === this.pc.getTransceivers()[0]) {
      transceiver.direction = 'inactive';
      transceiver.sender.replaceTrack(null).catch(() => {});
    } else {
      transceiver.stop();
    }
  }

  /**
   * Runs an offer/answer round with the server. Negotiations never overlap: a request made
   * while one runs is served by a single follow-up round, which also covers the changes of
   * every other request made meanwhile.
   * @returns {Promise<void>}
   */
  negotiate() {
    if (!this.#running) {
      this.#running = this.#negotiateOnce().finally(() => {
        this.#running = null;
      });
      return this.#running;
    }
    if (!this.#queued) {
      this.#queued = this.#running
        .catch(() => {})
        .then(() => {
          this.#queued = null;
          return this.negotiate();
        });
    }
    return this.#queued;
  }

  close() {
    this.#closed = true;
    this.pc.close();
  }

  async #negotiateOnce() {
    if (this.#closed) return;
    const pc = this.pc;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    /** @type {PublishedMid[]} */
    const tracks = [];
    for (const pub of this.#publications) {
      const mid = pub.mid;
      if (mid === null) continue;
      tracks.push({ mid, source: pub.source, muted: pub.muted });
      pub.serverMuted = pub.muted;
    }
    /** @type {PublishAnswerMessage} */
    let answer;
    try {
      answer = await this.options.sendOffer(pc.localDescription?.sdp ?? offer.sdp ?? '', tracks);
    } catch (err) {
      if (!this.#closed && pc.signalingState === 'have-local-offer') {
        await pc.setLocalDescription({ type: 'rollback' });
      }
      throw err;
    }
    if (this.#closed) return;
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    const sids = new Map((answer.tracks ?? []).map((t) => [t.mid, t.sid]));
    for (const pub of this.#publications) {
      const sid = pub.mid === null ? undefined : sids.get(pub.mid);
      if (sid) pub.sid = sid;
    }
  }
}
