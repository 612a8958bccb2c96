// The stage: everyone's video tiles and how they are laid out (the grid of 16:9 tiles sized
// to fit, shared screens, speaker view, pinning, the strip beside the whiteboard, who is
// talking), and the size each remote video is shown at, reported to the server.

import { h } from './dom.js';
import { Tile } from './tile.js';

/** @typedef {import('/sdk/moim.js').Room} Room */
/** @typedef {import('/sdk/moim.js').RemoteParticipant} RemoteParticipant */
/** @typedef {import('/sdk/moim.js').TrackInfo} TrackInfo */

/**
 * @typedef {object} StageOptions
 * @property {Room} room
 * @property {string} name your name until the server tells it
 */

export class Stage {
  /** @param {StageOptions} options */
  constructor(options) {
    this.room = options.room;
    /** Remote camera tiles by participant sid. @type {Map<string, Tile>} */
    this.cameraTiles = new Map();
    /** Screen tiles by track sid (the local one by `local`). @type {Map<string, Tile>} */
    this.screenTiles = new Map();
    /** @type {Map<Element, string>} video element → track sid, for size reports */
    this.observed = new Map();
    this.resizeObserver = new ResizeObserver((entries) => {
      for (const entry of entries) this.reportSize(entry.target);
    });
    this.layoutObserver = new ResizeObserver(() => this.layout());
    /** Speaker view: the latest remote speaker large, everyone else in a strip. */
    this.speakerView = false;
    /** The remote participant shown large in speaker view. @type {string | null} */
    this.lastSpeaker = null;
    /** The remote participant you pinned: shown large whoever speaks. @type {string | null} */
    this.pinned = null;
    /** The whiteboard is open: the videos go to a strip beside it. */
    this.boardOpen = false;
    /** @type {Tile | null} */
    this.featured = null;

    this.screensEl = h('div', { class: 'screens' });
    this.camerasEl = h('div', { class: 'cameras' });
    this.el = h('section', { class: 'stage', 'aria-label': 'Participants’ video' }, this.screensEl, this.camerasEl);
    this.layoutObserver.observe(this.camerasEl);
    this.localTile = new Tile({ participantSid: '', identity: '', name: options.name, source: 'camera', local: true, onPin: null });
    this.camerasEl.append(this.localTile.el);
  }

  /** Lets go of the size observers. */
  dispose() {
    this.resizeObserver.disconnect();
    this.layoutObserver.disconnect();
  }

  /** Names your tile after the participant the server joined you as. @param {string} name */
  identifyLocal(name) {
    const local = this.room.localParticipant;
    this.localTile.el.dataset.participantSid = local.sid;
    this.localTile.el.dataset.identity = local.identity;
    Object.assign(this.localTile.video.dataset, this.localTile.el.dataset);
    this.localTile.setName(name);
  }

  /** A camera tile for someone who joined. @param {RemoteParticipant} p */
  addParticipant(p) {
    const tile = new Tile({ participantSid: p.sid, identity: p.identity, name: p.name, source: 'camera', local: false, onPin: () => this.togglePin(p.sid) });
    this.cameraTiles.set(p.sid, tile);
    this.camerasEl.append(tile.el);
  }

  /** Takes away the tiles of someone who left. @param {string} sid */
  removeParticipant(sid) {
    this.cameraTiles.get(sid)?.remove();
    this.cameraTiles.delete(sid);
    if (this.pinned === sid) this.pinned = null;
    if (this.lastSpeaker === sid) this.lastSpeaker = null;
    for (const [trackSid, tile] of this.screenTiles) {
      if (tile.el.dataset.participantSid === sid) this.removeScreenTile(trackSid);
    }
  }

  /** Brings a participant's camera tile in line with their tracks. @param {RemoteParticipant} p */
  syncParticipant(p) {
    const tile = this.cameraTiles.get(p.sid);
    if (!tile) return;
    tile.el.dataset.role = p.role;
    tile.setName(p.name);
    const camera = p.trackBySource('camera');
    tile.setVideoMuted(!camera || camera.muted);
    const mic = p.trackBySource('microphone');
    tile.setMicMuted(!mic || mic.muted);
    tile.setHand(p.handRaised);
    tile.setQuality(p.quality);
  }

  /**
   * Marks a remote video the server paused (or resumed) for this connection's bandwidth.
   * @param {RemoteParticipant} p
   * @param {TrackInfo} info
   */
  setPaused(p, info) {
    const tile = info.source === 'screen' ? this.screenTiles.get(info.sid) : this.cameraTiles.get(p.sid);
    tile?.setPaused(Boolean(info.paused));
  }

  /**
   * Shows a remote video track: a screen in a tile of its own, a camera in its owner's tile.
   * @param {MediaStreamTrack} track
   * @param {RemoteParticipant} p
   * @param {TrackInfo} info
   */
  showTrack(track, p, info) {
    /** @type {Tile | undefined} */
    let tile;
    if (info.source === 'screen') {
      tile = new Tile({ participantSid: p.sid, identity: p.identity, name: p.name, source: 'screen', local: false, onPin: null });
      this.screenTiles.set(info.sid, tile);
      this.screensEl.append(tile.el);
    } else {
      tile = this.cameraTiles.get(p.sid);
    }
    if (!tile) return;
    tile.setTrack(track, info.sid);
    tile.setVideoMuted(info.muted);
    this.observed.set(tile.video, info.sid);
    this.resizeObserver.observe(tile.video);
    this.layout();
  }

  /**
   * Stops showing a remote video track.
   * @param {RemoteParticipant} p
   * @param {TrackInfo} info
   */
  hideTrack(p, info) {
    if (info.source === 'screen') {
      this.removeScreenTile(info.sid);
      return;
    }
    const tile = this.cameraTiles.get(p.sid);
    if (tile && tile.trackSid === info.sid) {
      this.unobserve(tile.video);
      tile.setTrack(null, null);
    }
  }

  /**
   * Shows your own screen share first, as a note that you are presenting with the way to stop.
   * @param {MediaStreamTrack} track
   * @param {() => void} onStop
   */
  showLocalScreen(track, onStop) {
    const local = this.room.localParticipant;
    const tile = new Tile({ participantSid: local.sid, identity: local.identity, name: local.name, source: 'screen', local: true, onPin: null });
    tile.setTrack(track, null);
    tile.showPresenting(onStop);
    this.screenTiles.set('local', tile);
    this.screensEl.prepend(tile.el);
    this.layout();
  }

  /** Takes your screen share's tile away. */
  hideLocalScreen() {
    this.removeScreenTile('local');
  }

  /** @param {string} key */
  removeScreenTile(key) {
    const tile = this.screenTiles.get(key);
    if (!tile) return;
    this.unobserve(tile.video);
    tile.remove();
    this.screenTiles.delete(key);
    this.layout();
  }

  /** @param {Element} video */
  unobserve(video) {
    this.resizeObserver.unobserve(video);
    this.observed.delete(video);
  }

  /** @param {Element} video */
  reportSize(video) {
    const trackSid = this.observed.get(video);
    if (!trackSid) return;
    const scale = Math.min(devicePixelRatio || 1, 2);
    this.room.setVideoSize(trackSid, video.clientWidth * scale, video.clientHeight * scale);
  }

  /**
   * Lays the stage out: the whiteboard with a strip of videos beside it; a shared screen or
   * the featured person large with the strip; else a grid of 16:9 tiles as large as fit,
   * centred, so that no picture is cropped.
   */
  layout() {
    this.placeFeatured();
    const presenting = this.screenTiles.size > 0 || this.featured !== null;
    this.el.classList.toggle('presenting', presenting && !this.boardOpen);
    this.el.classList.toggle('filmstrip', this.boardOpen);
    const onStage = this.room.settings.mode === 'audio' ? ':scope > :not([data-role="viewer"])' : ':scope > *';
    const n = Math.max(1, this.camerasEl.querySelectorAll(onStage).length);
    const { width: w, height: h } = this.camerasEl.getBoundingClientRect();
    const gap = parseFloat(getComputedStyle(this.camerasEl).columnGap) || 0;
    let best = { cols: 1, width: 0 };
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const width = Math.min((w - gap * (cols - 1)) / cols, (((h - gap * (rows - 1)) / rows) * 16) / 9);
      if (width > best.width) best = { cols, width };
    }
    const tileW = Math.max(0, Math.floor(best.width));
    this.camerasEl.style.setProperty('--cols', String(best.cols));
    this.camerasEl.style.setProperty('--tile-w', `${tileW}px`);
    this.camerasEl.style.setProperty('--tile-h', `${Math.floor((tileW * 9) / 16)}px`);
  }

  /** Marks the tiles of the people speaking now. @param {string[]} sids */
  markSpeakers(sids) {
    const speaking = new Set(sids);
    for (const tile of [this.localTile, ...this.cameraTiles.values()]) {
      tile.el.classList.toggle('speaking', speaking.has(tile.el.dataset.participantSid ?? ''));
    }
    const remote = sids.find((sid) => this.cameraTiles.has(sid));
    if (remote) {
      this.lastSpeaker = remote;
      this.layout();
    }
  }

  /** Switches between the grid and speaker view; returns whether speaker view is on. */
  toggleSpeakerView() {
    this.speakerView = !this.speakerView;
    this.layout();
    return this.speakerView;
  }

  /**
   * Moves one remote tile into the large area: the one you pinned; else in speaker view (and
   * while no screen is shared) the latest remote speaker (or the first remote tile).
   * Otherwise puts it back in the grid.
   */
  placeFeatured() {
    const pinned = this.pinned ? this.cameraTiles.get(this.pinned) : undefined;
    const lastSpeaker = this.lastSpeaker ? this.cameraTiles.get(this.lastSpeaker) : undefined;
    const speaker = this.speakerView && this.screenTiles.size === 0
      ? lastSpeaker ?? this.cameraTiles.values().next().value ?? null
      : null;
    const wanted = this.boardOpen ? null : pinned ?? speaker;
    if (wanted === this.featured) return;
    if (this.featured && this.featured.el.isConnected) this.camerasEl.append(this.featured.el);
    this.featured = wanted;
    if (wanted) this.screensEl.append(wanted.el);
  }

  /** Pins a remote participant large, or unpins them. @param {string} sid */
  togglePin(sid) {
    this.pinned = this.pinned === sid ? null : sid;
    for (const [tileSid, tile] of this.cameraTiles) tile.setPinned(tileSid === this.pinned);
    this.layout();
  }

  /** With the whiteboard open, the videos go to a strip beside it. @param {boolean} open */
  setBoardOpen(open) {
    this.boardOpen = open;
    this.layout();
  }
}
