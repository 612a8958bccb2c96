// What you send: your camera, microphone and screen share, whether each is off and whether
// you may send at all; opening the devices, publishing them and letting them go.

/** @typedef {import('/sdk/moim.js').Room} Room */
/** @typedef {import('/sdk/moim.js').TrackSource} TrackSource */
/** @typedef {import('./prejoin.js').JoinChoice} JoinChoice */
/** @typedef {import('./stage.js').Stage} Stage */

/**
 * @typedef {object} LocalMediaOptions
 * @property {Room} room
 * @property {JoinChoice} choice the devices chosen before joining
 * @property {Stage} stage shows your camera and your screen share
 * @property {(message: string) => void} onError
 * @property {() => void} onChange a device was turned on or off, or a share started or stopped
 */

export class LocalMedia {
  /** @param {LocalMediaOptions} options */
  constructor(options) {
    this.options = options;
    const { choice } = options;
    /** @type {MediaStreamTrack | null} */
    this.camera = choice.camera;
    /** @type {MediaStreamTrack | null} */
    this.microphone = choice.microphone;
    /** @type {MediaStreamTrack | null} */
    this.screen = null;
    this.cameraOff = choice.cameraOff || !this.camera;
    this.micOff = choice.microphoneOff || !this.microphone;
    /** Whether you may publish (false for a listener of an audio room). */
    this.canPublish = true;
    options.stage.localTile.setTrack(this.camera, null);
  }

  async toggleMic() {
    if (!this.microphone) {
      this.microphone = await this.openDevice('audio');
      if (!this.microphone) return;
      this.micOff = false;
      if (this.canPublish) this.publish(this.microphone, 'microphone', false);
    } else {
      try {
        this.options.room.setMuted('microphone', !this.micOff);
        this.micOff = !this.micOff;
      } catch (err) {
        this.options.onError(err instanceof Error ? err.message : String(err));
      }
    }
    this.options.onChange();
  }

  async toggleCamera() {
    if (!this.camera) {
      this.camera = await this.openDevice('video');
      if (!this.camera) return;
      this.cameraOff = false;
      this.options.stage.localTile.setTrack(this.camera, null);
      this.publish(this.camera, 'camera', false);
    } else {
      try {
        this.options.room.setMuted('camera', !this.cameraOff);
        this.cameraOff = !this.cameraOff;
      } catch (err) {
        this.options.onError(err instanceof Error ? err.message : String(err));
      }
    }
    this.options.onChange();
  }

  /** @param {'audio' | 'video'} kind */
  async openDevice(kind) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ [kind]: true });
      return stream.getTracks()[0] ?? null;
    } catch (err) {
      this.options.onError(`Could not open your ${kind === 'audio' ? 'microphone' : 'camera'}: ${err instanceof Error ? err.message : err}`);
      return null;
    }
  }

  /**
   * @param {MediaStreamTrack} track
   * @param {TrackSource} source
   * @param {boolean} muted
   */
  publish(track, source, muted) {
    this.options.room.publishTrack(track, { source, muted }).catch((err) => {
      this.options.onError(`Could not send your ${source}: ${err.message}`);
    });
  }

  /**
   * Turns the camera and any screen share off and lets their devices go (the camera's
   * light goes out); turning the camera on again opens it anew and publishes it.
   */
  stopVideo() {
    const camera = this.camera;
    this.camera = null;
    this.cameraOff = true;
    this.options.stage.localTile.setTrack(null, null);
    if (camera) {
      camera.stop();
      this.options.room.unpublishTrack(camera).catch(() => {});
    }
    if (this.screen) this.stopScreen();
  }

  async toggleScreen() {
    if (this.screen) {
      await this.stopScreen();
      return;
    }
    /** @type {MediaStream} */
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
    } catch (err) {
      if (!(err instanceof DOMException && err.name === 'NotAllowedError')) {
        this.options.onError(`Could not share your screen: ${err instanceof Error ? err.message : err}`);
      }
      return;
    }
    const [track] = stream.getVideoTracks();
    if (!track) return;
    track.contentHint = 'detail';
    track.addEventListener('ended', () => {
      if (this.screen === track) this.stopScreen();
    });
    this.screen = track;
    this.options.stage.showLocalScreen(track, () => this.stopScreen());
    this.options.onChange();
    this.publish(track, 'screen', false);
  }

  async stopScreen() {
    const track = this.screen;
    if (!track) return;
    this.screen = null;
    this.options.stage.hideLocalScreen();
    this.options.onChange();
    track.stop();
    await this.options.room.unpublishTrack(track).catch(() => {});
  }

  /** Lets every device go, at the end of the meeting. */
  stopAll() {
    for (const track of [this.camera, this.microphone, this.screen]) track?.stop();
  }
}
