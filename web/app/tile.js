// One video tile: a participant's camera (or avatar when it is off) or a screen share.
// Tiles carry data attributes naming what they show, for styling and for tests.

import { h, icon, initials, setControl } from './dom.js';

/**
 * @typedef {object} TileOptions
 * @property {string} participantSid
 * @property {string} identity
 * @property {string} name
 * @property {'camera' | 'screen'} source
 * @property {boolean} local
 * @property {(() => void) | null} onPin pins the tile large (remote cameras only)
 */

export class Tile {
  /** @param {TileOptions} options */
  constructor(options) {
    this.source = options.source;
    this.name = options.name;
    this.video = h('video', { autoplay: true, playsinline: true, 'data-source': options.source });
    // Remote audio plays through separate <audio> elements; a tile never plays sound.
    this.video.muted = true;
    this.avatar = h('div', { class: 'avatar' });
    this.nameLabel = h('span', { class: 'name' });
    this.micIcon = h('span', { class: 'mic-state', title: 'Microphone off', hidden: true }, icon('micOff'));
    this.handIcon = h('span', { class: 'hand-state', title: 'Hand raised', hidden: true }, icon('hand'));
    this.qualityEl = h('span', { class: 'quality', role: 'img', hidden: true },
      h('i', {}), h('i', {}), h('i', {}));
    this.pausedNote = h('p', { class: 'paused-note', hidden: true }, 'Video paused: your connection is too slow for it');
    this.el = h(
      'div',
      {
        class: `tile ${options.source}`,
        'data-participant-sid': options.participantSid,
        'data-identity': options.identity,
        'data-source': options.source,
        'data-local': options.local ? 'true' : undefined,
      },
      this.video,
      this.avatar,
      this.pausedNote,
      h('div', { class: 'tile-label' }, this.qualityEl, this.handIcon, this.micIcon, this.nameLabel),
    );
    const onPin = options.onPin;
    /** @type {HTMLButtonElement | null} */
    this.pinButton = null;
    this.pinned = false;
    if (onPin) {
      this.pinButton = h('button', { class: 'tile-pin', type: 'button', 'aria-pressed': 'false', onclick: () => onPin() });
      this.el.append(this.pinButton);
    }
    for (const [key, value] of Object.entries(this.el.dataset)) {
      if (value !== undefined) this.video.dataset[key] = value;
    }
    if (options.local && options.source === 'camera') this.video.classList.add('mirror');
    this.setName(options.name, options.local);
    this.setTrack(null, null);
  }

  /**
   * @param {string} name
   * @param {boolean} [local]
   */
  setName(name, local = this.el.dataset.local === 'true') {
    const suffix = this.source === 'screen' ? '’s screen' : '';
    this.name = name;
    this.nameLabel.textContent = `${name}${suffix}${local ? ' (you)' : ''}`;
    this.avatar.textContent = initials(name);
    this.setPinned(this.pinned);
  }

  /**
   * Shows a track, or the avatar when `track` is null.
   * @param {MediaStreamTrack | null} track
   * @param {string | null} trackSid
   */
  setTrack(track, trackSid) {
    const current = /** @type {MediaStream | null} */ (this.video.srcObject)?.getTracks()[0] ?? null;
    if (current !== track) {
      this.video.srcObject = track ? new MediaStream([track]) : null;
      if (track) this.video.play().catch(() => {});
    }
    for (const el of [this.el, this.video]) {
      if (trackSid) el.dataset.trackSid = trackSid;
      else delete el.dataset.trackSid;
    }
    this.el.classList.toggle('no-video', track === null);
  }

  /** @param {boolean} off the camera is muted: show the avatar */
  setVideoMuted(off) {
    this.el.classList.toggle('video-muted', off);
  }

  /**
   * The server paused this video because your connection cannot carry it now: the
   * avatar (or a dark tile) and a note say so until it resumes.
   * @param {boolean} paused
   */
  setPaused(paused) {
    this.el.classList.toggle('video-paused', paused);
    this.pausedNote.hidden = !paused;
  }

  /** Shows whether the tile is pinned large. @param {boolean} pinned */
  setPinned(pinned) {
    this.pinned = pinned;
    if (!this.pinButton) return;
    this.pinButton.setAttribute('aria-pressed', String(pinned));
    setControl(this.pinButton, 'pin', pinned ? `Unpin ${this.name}` : `Pin ${this.name}`, false);
    this.el.classList.toggle('pinned', pinned);
  }

  /**
   * Shows how well the participant's connection carries its media, as three bars.
   * @param {import('/sdk/moim.js').ConnectionQuality | null} quality null: not measured yet
   */
  setQuality(quality) {
    this.qualityEl.hidden = quality === null;
    if (quality === null) return;
    this.qualityEl.dataset.quality = quality;
    const label = `Connection: ${quality}`;
    this.qualityEl.setAttribute('aria-label', label);
    this.qualityEl.title = label;
  }

  /** @param {boolean} raised the participant asks to speak */
  setHand(raised) {
    this.handIcon.hidden = !raised;
  }

  /**
   * For your own screen share: instead of your screen shown back to you (a hall of
   * mirrors), a note that you are presenting and the way to stop.
   * @param {() => void} onStop
   */
  showPresenting(onStop) {
    this.el.classList.add('presenting-self');
    this.el.append(h('div', { class: 'presenting-note' },
      h('p', {}, 'You are presenting to everyone'),
      h('button', { class: 'button', type: 'button', onclick: onStop }, 'Stop presenting')));
  }

  /** @param {boolean} muted */
  setMicMuted(muted) {
    this.micIcon.hidden = !muted;
  }

  /** The track sid shown, if any. */
  get trackSid() {
    return this.el.dataset.trackSid ?? null;
  }

  remove() {
    this.video.srcObject = null;
    this.el.remove();
  }
}
