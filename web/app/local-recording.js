// Recording in the host's browser, never uploaded: the visible video tiles are drawn into
// a canvas, every audio track is mixed with the Web Audio API, and `MediaRecorder` turns
// both into a WebM file offered for download. The audio-only variant records the mix
// alone.

/**
 * @typedef {object} LocalRecordingOptions
 * @property {HTMLElement} stage where the tiles are (their `<video>` elements are drawn)
 * @property {() => MediaStreamTrack[]} audioTracks every audio track to mix, asked again
 *   every second so that people who join are heard
 * @property {boolean} audioOnly
 */

const WIDTH = 1280;
const HEIGHT = 720;
const FPS = 30;

export class LocalRecording {
  /** @param {LocalRecordingOptions} options */
  constructor(options) {
    this.options = options;
    this.audio = new AudioContext();
    this.mix = this.audio.createMediaStreamDestination();
    /** Track ids already mixed. @type {Set<string>} */
    this.mixed = new Set();
    /** @type {Blob[]} */
    this.chunks = [];
    this.canvas = document.createElement('canvas');
    this.canvas.width = WIDTH;
    this.canvas.height = HEIGHT;
    this.ctx = /** @type {CanvasRenderingContext2D} */ (this.canvas.getContext('2d'));
    this.mimeType = options.audioOnly ? 'audio/webm;codecs=opus' : 'video/webm;codecs=vp8,opus';
    const tracks = [...this.mix.stream.getAudioTracks()];
    if (!options.audioOnly) tracks.unshift(...this.canvas.captureStream(FPS).getVideoTracks());
    this.recorder = new MediaRecorder(new MediaStream(tracks), { mimeType: this.mimeType });
    this.recorder.ondataavailable = (ev) => {
      if (ev.data.size > 0) this.chunks.push(ev.data);
    };
    /** @type {ReturnType<typeof setInterval>[]} */
    this.timers = [];
  }

  /** Starts recording (call from a click: the audio mix needs a user gesture). */
  async start() {
    await this.audio.resume();
    this.addAudio();
    this.timers.push(setInterval(() => this.addAudio(), 1000));
    if (!this.options.audioOnly) {
      this.draw();
      // A timer, not animation frames: those stop while the tab is in the background.
      this.timers.push(setInterval(() => this.draw(), 1000 / FPS));
    }
    this.recorder.start(1000);
  }

  /**
   * Stops and returns the file.
   * @returns {Promise<Blob>}
   */
  stop() {
    for (const timer of this.timers) clearInterval(timer);
    return new Promise((resolve) => {
      this.recorder.onstop = () => {
        this.audio.close().catch(() => {});
        resolve(new Blob(this.chunks, { type: this.mimeType.split(';')[0] }));
      };
      this.recorder.stop();
    });
  }

  addAudio() {
    for (const track of this.options.audioTracks()) {
      if (this.mixed.has(track.id) || track.readyState === 'ended') continue;
      this.mixed.add(track.id);
      this.audio.createMediaStreamSource(new MediaStream([track])).connect(this.mix);
    }
  }

  /** Draws the visible tiles in a grid, each scaled to fill its cell. */
  draw() {
    const { ctx } = this;
    ctx.fillStyle = '#111';
    ctx.fillRect(0, 0, WIDTH, HEIGHT);
    const videos = /** @type {HTMLVideoElement[]} */ ([...this.options.stage.querySelectorAll('video')])
      .filter((v) => v.offsetParent !== null && v.videoWidth > 0);
    const n = videos.length;
    if (n === 0) return;
    const cols = Math.ceil(Math.sqrt(n));
    const rows = Math.ceil(n / cols);
    const w = WIDTH / cols;
    const h = HEIGHT / rows;
    videos.forEach((video, i) => {
      const x = (i % cols) * w;
      const y = Math.floor(i / cols) * h;
      const scale = Math.max(w / video.videoWidth, h / video.videoHeight);
      const sw = w / scale;
      const sh = h / scale;
      ctx.drawImage(video, (video.videoWidth - sw) / 2, (video.videoHeight - sh) / 2, sw, sh, x, y, w, h);
    });
  }
}
