// The meeting screen: the video grid, the controls, the participant list and the connection
// indicator. Everything it knows about the room comes from the client library's events.

import { MoimError, Room } from '/sdk/moim.js';
import { ChatPanel } from './chat.js';
import { controlButton, h, setControl } from './dom.js';
import { LiveControls } from './live-controls.js';
import { PeoplePanel } from './people.js';
import { RecordControls } from './record-controls.js';
import { Tile } from './tile.js';
import { WhiteboardPanel } from './whiteboard.js';

/** @typedef {import('/sdk/moim.js').RemoteParticipant} RemoteParticipant */
/** @typedef {import('/sdk/moim.js').TrackInfo} TrackInfo */
/** @typedef {import('/sdk/moim.js').ConnectionState} ConnectionState */
/** @typedef {import('./prejoin.js').JoinChoice} JoinChoice */

/**
 * Why the meeting screen closed: the user left, or the session ended without them.
 * @typedef {{ kind: 'left' } | { kind: 'ended', error: MoimError | null }} MeetingEnd
 */

/**
 * @typedef {object} MeetingOptions
 * @property {string} room
 * @property {JoinChoice} choice
 * @property {(end: MeetingEnd) => void} onEnd
 */

/** @type {Record<ConnectionState, string>} */
const STATE_TEXT = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  disconnected: 'Disconnected',
};

/**
 * Joins the room and, once joined, shows the meeting in `root`. Rejects (leaving `root` as
 * it was) when the join fails.
 * @param {HTMLElement} root
 * @param {MeetingOptions} options
 */
export async function enterMeeting(root, options) {
  const meeting = new Meeting(options);
  let cancelled = false;
  const notice = h('div', { class: 'waiting-notice', id: 'waiting-notice', role: 'status' },
    h('div', { class: 'card' }, h('h2', {}, 'Waiting to be let in'),
      h('p', {}, 'A host will let you into the meeting soon.'),
      h('button', { class: 'button', type: 'button', onclick: () => { cancelled = true; meeting.room.leave(); } }, 'Cancel')));
  const stopWaiting = meeting.room.on('waiting', () => document.body.append(notice));
  try {
    await meeting.connect();
  } catch (err) {
    meeting.dispose();
    throw cancelled ? new Error('You stopped waiting. Join again when you are ready.') : err;
  } finally {
    stopWaiting();
    notice.remove();
  }
  root.replaceChildren(meeting.el);
  meeting.listen();
  meeting.layout();
}

class Meeting {
  /** @param {MeetingOptions} options */
  constructor(options) {
    this.options = options;
    this.room = new Room();
    // For diagnostics and tests: the page's one Room.
    /** @type {any} */ (window).moimRoom = this.room;
    /** @type {MediaStreamTrack | null} */
    this.camera = options.choice.camera;
    /** @type {MediaStreamTrack | null} */
    this.microphone = options.choice.microphone;
    /** @type {MediaStreamTrack | null} */
    this.screen = null;
    this.cameraOff = options.choice.cameraOff || !this.camera;
    this.micOff = options.choice.microphoneOff || !this.microphone;
    this.ended = false;
    this.joined = false;
    /** Whether you may publish (false for a listener of an audio room). */
    this.canPublish = true;

    /** Remote camera tiles by participant sid. @type {Map<string, Tile>} */
    this.cameraTiles = new Map();
    /** Screen tiles by track sid (the local one by `local`). @type {Map<string, Tile>} */
    this.screenTiles = new Map();
    /** @type {Map<string, HTMLAudioElement>} */
    this.audios = new Map();
    /** @type {Map<Element, string>} video element → track sid, for size reports */
    this.observed = new Map();
    this.resizeObserver = new ResizeObserver((entries) => {
      for (const entry of entries) this.reportSize(entry.target);
    });
    this.layoutObserver = new ResizeObserver(() => this.layout());

    /** @type {MoimError | null} */
    this.lastError = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.toastTimer = undefined;

    const { choice, room } = this.options;
    this.stateEl = h('div', { class: 'conn', id: 'connection-state', role: 'status', 'data-state': 'connecting' },
      h('span', { class: 'dot' }), h('span', { class: 'conn-text' }, STATE_TEXT.connecting));
    this.screensEl = h('div', { class: 'screens' });
    this.camerasEl = h('div', { class: 'cameras' });
    this.stageEl = h('section', { class: 'stage', 'aria-label': 'Participants’ video' }, this.screensEl, this.camerasEl);
    this.audioEl = h('div', { class: 'audio-sinks', hidden: true });
    this.countEl = h('span', { class: 'count' }, '1');
    this.people = new PeoplePanel({
      room: this.room,
      local: () => ({ name: this.room.localParticipant.name || choice.name, micOff: this.micOff || !this.microphone, cameraOff: this.cameraOff }),
      onCount: (n) => { this.countEl.textContent = String(n); },
    });
    this.panelEl = this.people.el;

    this.micButton = controlButton('mic', 'Mute microphone', () => this.toggleMic());
    this.cameraButton = controlButton('camera', 'Turn off camera', () => this.toggleCamera());
    this.screenButton = controlButton('screen', 'Share screen', () => this.toggleScreen());
    this.peopleButton = controlButton('people', 'Participants', () => this.togglePanel());
    this.peopleButton.append(this.countEl);
    this.handButton = controlButton('hand', 'Raise hand', () => this.room.raiseHand(!this.room.localParticipant.handRaised));
    this.handButton.id = 'raise-hand';
    this.unreadEl = h('span', { class: 'count unread', id: 'chat-unread', hidden: true });
    this.chatButton = controlButton('chat', 'Chat', () => this.toggleChat());
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
    this.viewButton = controlButton('speakerView', 'Speaker view', () => this.toggleSpeakerView());
    this.chatButton.append(this.unreadEl);
    this.board = new WhiteboardPanel({
      room: this.room,
      nameOf: (sid) => this.room.participants.get(sid)?.name ?? '',
    });
    this.boardButton = controlButton('board', 'Whiteboard', () => this.toggleBoard());
    this.record = new RecordControls({
      room: this.room,
      stage: this.stageEl,
      audioTracks: () => [
        ...(this.microphone ? [this.microphone] : []),
        ...[...this.audios.values()].flatMap((a) => /** @type {MediaStream} */ (a.srcObject).getAudioTracks()),
      ],
      token: choice.token,
      onError: (message) => this.toast(message),
      onNotice: (message) => this.toast(message),
    });
    this.live = new LiveControls({ room: this.room, token: choice.token, onNotice: (message) => this.toast(message) });
    this.chat = new ChatPanel({
      room: this.room,
      token: choice.token,
      onError: (message) => this.toast(message),
      onUnread: (n) => {
        this.unreadEl.hidden = n === 0;
        this.unreadEl.textContent = String(n);
      },
    });
    const leaveButton = controlButton('leave', 'Leave', () => this.leave());
    leaveButton.classList.add('danger');
    // On a narrow screen the less used controls fold into a "More" menu.
    this.moreButton = controlButton('more', 'More options', () => this.toggleMore());
    this.moreButton.id = 'more-controls-button';
    this.moreEl = h('div', { class: 'more-controls', id: 'more-controls', onclick: () => this.toggleMore(false) },
      this.screenButton, this.boardButton, this.record.button, this.live.button, this.peopleButton, this.viewButton);
    this.toastEl = h('div', { class: 'toast', role: 'alert', hidden: true });
    /** The last host's choice on leaving. */
    this.leaveDialog = h('dialog', { class: 'card leave-dialog', id: 'leave-dialog', 'aria-labelledby': 'leave-title' },
      h('h2', { id: 'leave-title' }, 'You are the only host'),
      h('p', {}, 'Without a host, nobody can let people in from the waiting room, mute, or stop a recording.'),
      h('div', { class: 'row' },
        h('button', { class: 'button danger', type: 'button', onclick: () => { this.leaveDialog.close(); this.room.moderation.endMeeting(); } }, 'End meeting for all'),
        h('button', { class: 'button', type: 'button', onclick: () => { this.leaveDialog.close(); this.leaveAnyway(); } }, 'Just leave'),
        h('button', { class: 'button', type: 'button', onclick: () => this.leaveDialog.close() }, 'Cancel')));
    /** Hosts hear of newcomers in the waiting room wherever they look. */
    this.waitingAlert = h('div', { class: 'waiting-alert', id: 'waiting-alert', role: 'alert', hidden: true });

    this.layoutObserver.observe(this.camerasEl);
    this.localTile = new Tile({ participantSid: '', identity: '', name: choice.name, source: 'camera', local: true, onPin: null });
    this.localTile.setTrack(this.camera, null);
    this.camerasEl.append(this.localTile.el);

    this.el = h(
      'div',
      { class: 'meeting' },
      h('header', { class: 'topbar' },
        h('div', { class: 'brand small' }, h('div', { class: 'logo', 'aria-hidden': 'true' }, 'M'), h('span', { class: 'room-title' }, room)),
        this.live.indicator, this.record.indicator, this.stateEl),
      h('div', { class: 'body' }, this.board.el, this.stageEl, this.panelEl, this.chat.el),
      this.controlsEl = h('footer', { class: 'controls' }, this.micButton, this.cameraButton, this.handButton, this.chatButton, this.moreEl, this.moreButton, leaveButton, this.record.menu),
      this.audioEl,
      this.toastEl,
      this.waitingAlert,
      this.leaveDialog,
      this.record.recordings.el,
      this.live.el,
    );
    this.syncControls();
    this.wireRoom();
    this.onKey = (/** @type {KeyboardEvent} */ e) => this.key(e);
    this.onPointer = (/** @type {PointerEvent} */ e) => this.closeMenusOutside(e);
  }

  /** The page's keys and clicks belong to the meeting once it is shown. */
  listen() {
    document.addEventListener('keydown', this.onKey);
    document.addEventListener('pointerdown', this.onPointer);
  }

  /** Lets go of the page: its keys and clicks, the size observers. */
  dispose() {
    document.removeEventListener('keydown', this.onKey);
    document.removeEventListener('pointerdown', this.onPointer);
    this.resizeObserver.disconnect();
    this.layoutObserver.disconnect();
  }

  /**
   * Escape closes the open menu, else the open panel; Ctrl+D (⌘+D) mutes or unmutes the
   * microphone and Ctrl+E (⌘+E) the camera, as in other meeting apps.
   * @param {KeyboardEvent} e
   */
  key(e) {
    if (e.key === 'Escape') {
      if (this.controlsEl.classList.contains('more-open')) this.toggleMore(false);
      else if (!this.record.menu.hidden) this.record.menu.hidden = true;
      else if (!this.chat.el.hidden) this.toggleChat();
      else if (!this.panelEl.hidden) this.togglePanel();
      return;
    }
    // A held key repeats: one press is one toggle.
    if (!(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey || e.repeat) return;
    const key = e.key.toLowerCase();
    if (key === 'd' && !this.micButton.hidden) {
      e.preventDefault();
      this.toggleMic();
    } else if (key === 'e' && !this.cameraButton.hidden) {
      e.preventDefault();
      this.toggleCamera();
    }
  }

  /** A press outside an open menu closes it. @param {PointerEvent} e */
  closeMenusOutside(e) {
    const target = /** @type {Node} */ (e.target);
    const inside = (/** @type {Element[]} */ ...els) => els.some((el) => el.contains(target));
    if (this.controlsEl.classList.contains('more-open') && !inside(this.moreEl, this.moreButton)) this.toggleMore(false);
    if (!this.record.menu.hidden && !inside(this.record.menu, this.record.button)) this.record.menu.hidden = true;
  }

  wireRoom() {
    const room = this.room;
    room.on('connectionState', (state) => this.onState(state));
    room.on('participantJoined', (p) => {
      const tile = new Tile({ participantSid: p.sid, identity: p.identity, name: p.name, source: 'camera', local: false, onPin: () => this.togglePin(p.sid) });
      this.cameraTiles.set(p.sid, tile);
      this.camerasEl.append(tile.el);
      this.syncParticipant(p);
      this.layout();
    });
    room.on('participantLeft', (p) => {
      this.cameraTiles.get(p.sid)?.remove();
      this.cameraTiles.delete(p.sid);
      if (this.pinned === p.sid) this.pinned = null;
      if (this.lastSpeaker === p.sid) this.lastSpeaker = null;
      for (const [sid, tile] of this.screenTiles) {
        if (tile.el.dataset.participantSid === p.sid) this.removeScreenTile(sid);
      }
      this.renderPeople();
      this.layout();
    });
    room.on('trackPublished', (_info, p) => this.syncParticipant(p));
    room.on('trackUnpublished', (info, p) => {
      if (info.source === 'screen') this.removeScreenTile(info.sid);
      this.syncParticipant(p);
    });
    room.on('trackMuted', (_info, p) => this.syncParticipant(p));
    room.on('activeSpeakers', (sids) => this.markSpeakers(sids));
    room.on('mutedByHost', ({ source, muted, locked }) => {
      const what = source === 'camera' ? 'camera' : 'microphone';
      if (muted) {
        if (source === 'microphone') this.micOff = true;
        if (source === 'camera') this.cameraOff = true;
        this.syncControls();
        this.toast(`A host turned off your ${what}${locked ? '; you can turn it on once they allow it' : ''}.`);
      } else {
        this.toast(`A host allows you to turn your ${what} on again.`);
      }
    });
    room.on('participantUpdated', (p) => {
      if (p === room.localParticipant) this.onLocalUpdated();
      else this.syncParticipant(/** @type {RemoteParticipant} */ (p));
      this.layout();
    });
    room.moderation.on('waiting', (list) => this.showWaiting(list));
    room.on('settings', (settings) => {
      // Audio rooms carry voices only: cameras and screens go off (the server stops
      // forwarding them anyway); back in a meeting, people turn their camera on again.
      if (settings.mode === 'audio') this.stopVideo();
      this.syncControls();
    });
    room.on('trackSubscribed', (track, p, info) => this.onSubscribed(track, p, info));
    room.on('trackUnsubscribed', (_track, p, info) => this.onUnsubscribed(p, info));
    room.on('error', (err) => {
      this.lastError = err;
      if (err.code !== 'replaced') this.toast(err.message);
    });
  }

  async connect() {
    const { choice } = this.options;
    await this.room.connect(choice.token);
    // The meeting shown is the one the server says it joined, never only the link's.
    if (this.room.name !== this.options.room) {
      const joined = this.room.name;
      await this.room.leave();
      throw new MoimError('wrong_room', `This invitation is for the meeting “${joined}”, not “${this.options.room}”.`);
    }
    this.joined = true;
    this.localTile.el.dataset.participantSid = this.room.localParticipant.sid;
    this.localTile.el.dataset.identity = this.room.localParticipant.identity;
    Object.assign(this.localTile.video.dataset, this.localTile.el.dataset);
    this.localTile.setName(this.room.localParticipant.name || choice.name);
    this.canPublish = this.room.localParticipant.canPublish;
    if (!this.canPublish || this.room.settings.mode === 'audio') this.stopVideo();
    this.syncControls();
    if (!this.canPublish) return;
    if (this.camera) this.publish(this.camera, 'camera', this.cameraOff);
    if (this.microphone) this.publish(this.microphone, 'microphone', this.micOff);
  }

  /** A host made you a speaker (publish your microphone, muted) or a listener again. */
  onLocalUpdated() {
    const can = this.room.localParticipant.canPublish;
    if (can !== this.canPublish) {
      this.canPublish = can;
      if (can) {
        this.micOff = true;
        if (this.microphone) this.publish(this.microphone, 'microphone', true);
        this.toast(this.room.settings.mode === 'audio'
          ? 'A host made you a speaker. Unmute your microphone to talk.'
          : 'This is a meeting again: unmute your microphone and turn on your camera to take part.');
      } else {
        this.micOff = true;
        this.stopVideo();
        this.toast('A host made you a listener.');
      }
    }
    this.syncControls();
  }

  /**
   * @param {MediaStreamTrack} track
   * @param {import('/sdk/moim.js').TrackSource} source
   * @param {boolean} muted
   */
  publish(track, source, muted) {
    this.room.publishTrack(track, { source, muted }).catch((err) => {
      this.toast(`Could not send your ${source}: ${err.message}`);
    });
  }

  /**
   * @param {MediaStreamTrack} track
   * @param {RemoteParticipant} p
   * @param {TrackInfo} info
   */
  onSubscribed(track, p, info) {
    if (info.kind === 'audio') {
      const audio = h('audio', { autoplay: true, 'data-track-sid': info.sid, 'data-participant-sid': p.sid, 'data-source': info.source });
      audio.srcObject = new MediaStream([track]);
      audio.play().catch(() => {});
      this.audios.set(info.sid, audio);
      this.audioEl.append(audio);
      return;
    }
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
   * @param {RemoteParticipant} p
   * @param {TrackInfo} info
   */
  onUnsubscribed(p, info) {
    if (info.kind === 'audio') {
      this.audios.get(info.sid)?.remove();
      this.audios.delete(info.sid);
      return;
    }
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

  /** Brings a participant's camera tile and list entry in line with their tracks. @param {RemoteParticipant} p */
  syncParticipant(p) {
    const tile = this.cameraTiles.get(p.sid);
    if (tile) {
      tile.el.dataset.role = p.role;
      tile.setName(p.name);
      const camera = p.trackBySource('camera');
      tile.setVideoMuted(!camera || camera.muted);
      const mic = p.trackBySource('microphone');
      tile.setMicMuted(!mic || mic.muted);
      tile.setHand(p.handRaised);
    }
    this.renderPeople();
  }

  renderPeople() {
    this.people.render();
    this.chat.setPeople([...this.room.participants.values()]);
    this.chat.setHost(this.room.localParticipant.role === 'host');
    this.board.setHost(this.room.localParticipant.role === 'host');
    this.record.setHost(this.room.localParticipant.role === 'host');
    this.live.setHost(this.room.localParticipant.role === 'host');
  }

  /**
   * Lays the stage out: the whiteboard with a strip of videos beside it; a shared screen or
   * the featured person large with the strip; else a grid of 16:9 tiles as large as fit,
   * centred, so that no picture is cropped.
   */
  layout() {
    this.placeFeatured();
    const presenting = this.screenTiles.size > 0 || this.featured !== null;
    this.stageEl.classList.toggle('presenting', presenting && !this.boardOpen);
    this.stageEl.classList.toggle('filmstrip', this.boardOpen);
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

  /** @param {ConnectionState} state */
  onState(state) {
    this.stateEl.dataset.state = state;
    const text = this.stateEl.querySelector('.conn-text');
    if (text) text.textContent = STATE_TEXT[state];
    this.el.classList.toggle('reconnecting', state === 'reconnecting');
    // A join that fails is reported by `connect()` to whoever entered the meeting; only a
    // meeting that was joined ends here.
    if (state === 'disconnected' && this.joined && !this.ended) {
      this.finish({ kind: 'ended', error: this.lastError });
    }
  }

  async toggleMic() {
    if (!this.microphone) {
      this.microphone = await this.openDevice('audio');
      if (!this.microphone) return;
      this.micOff = false;
      if (this.canPublish) this.publish(this.microphone, 'microphone', false);
    } else {
      try {
        this.room.setMuted('microphone', !this.micOff);
        this.micOff = !this.micOff;
      } catch (err) {
        this.toast(err instanceof Error ? err.message : String(err));
      }
    }
    this.syncControls();
  }

  async toggleCamera() {
    if (!this.camera) {
      this.camera = await this.openDevice('video');
      if (!this.camera) return;
      this.cameraOff = false;
      this.localTile.setTrack(this.camera, null);
      this.publish(this.camera, 'camera', false);
    } else {
      try {
        this.room.setMuted('camera', !this.cameraOff);
        this.cameraOff = !this.cameraOff;
      } catch (err) {
        this.toast(err instanceof Error ? err.message : String(err));
      }
    }
    this.syncControls();
  }

  /** @param {'audio' | 'video'} kind */
  async openDevice(kind) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ [kind]: true });
      return stream.getTracks()[0] ?? null;
    } catch (err) {
      this.toast(`Could not open your ${kind === 'audio' ? 'microphone' : 'camera'}: ${err instanceof Error ? err.message : err}`);
      return null;
    }
  }

  /**
   * Turns the camera and any screen share off and lets their devices go (the camera's
   * light goes out); turning the camera on again opens it anew and publishes it.
   */
  stopVideo() {
    const camera = this.camera;
    this.camera = null;
    this.cameraOff = true;
    this.localTile.setTrack(null, null);
    if (camera) {
      camera.stop();
      this.room.unpublishTrack(camera).catch(() => {});
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
        this.toast(`Could not share your screen: ${err instanceof Error ? err.message : err}`);
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
    const local = this.room.localParticipant;
    const tile = new Tile({ participantSid: local.sid, identity: local.identity, name: local.name, source: 'screen', local: true, onPin: null });
    tile.setTrack(track, null);
    tile.showPresenting(() => this.stopScreen());
    this.screenTiles.set('local', tile);
    this.screensEl.prepend(tile.el);
    this.layout();
    this.syncControls();
    this.publish(track, 'screen', false);
  }

  async stopScreen() {
    const track = this.screen;
    if (!track) return;
    this.screen = null;
    this.removeScreenTile('local');
    this.syncControls();
    track.stop();
    await this.room.unpublishTrack(track).catch(() => {});
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

  toggleSpeakerView() {
    this.speakerView = !this.speakerView;
    setControl(this.viewButton, 'speakerView', this.speakerView ? 'Grid view' : 'Speaker view', false);
    this.viewButton.classList.toggle('active', this.speakerView);
    this.layout();
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

  /** The whiteboard takes the stage's place while it is open, the videos in a strip beside it. */
  toggleBoard() {
    this.boardOpen = this.board.toggle();
    this.boardButton.setAttribute('aria-pressed', String(this.boardOpen));
    this.el.querySelector('.body')?.classList.toggle('board-open', this.boardOpen);
    this.layout();
  }

  /**
   * Tells a host who waits to be let in, with the way to admit them, until nobody waits
   * (the participant panel lists them too).
   * @param {import('/sdk/protocol.js').Sender[]} waiting
   */
  showWaiting(waiting) {
    const host = this.room.localParticipant.role === 'host';
    this.waitingAlert.hidden = !host || waiting.length === 0;
    if (this.waitingAlert.hidden) return;
    const [first] = waiting;
    const text = waiting.length === 1
      ? `${first.name || first.identity} wants to join.`
      : `${waiting.length} people want to join.`;
    const admit = h('button', { class: 'button primary', type: 'button', onclick: () => this.room.moderation.admit(first.sid) }, 'Admit');
    const view = h('button', { class: 'button', type: 'button', onclick: () => { if (this.panelEl.hidden) this.togglePanel(); } }, 'View');
    this.waitingAlert.replaceChildren(h('span', {}, text), ...(waiting.length === 1 ? [admit] : []), view);
  }

  /** Opens or closes the "More" menu of a narrow screen. @param {boolean} [open] */
  toggleMore(open = !this.controlsEl.classList.contains('more-open')) {
    this.controlsEl.classList.toggle('more-open', open);
    this.moreButton.setAttribute('aria-expanded', String(open));
  }

  togglePanel() {
    this.panelEl.hidden = !this.panelEl.hidden;
    this.peopleButton.setAttribute('aria-pressed', String(!this.panelEl.hidden));
    if (!this.panelEl.hidden && !this.chat.el.hidden) this.toggleChat();
  }

  toggleChat() {
    const shown = this.chat.toggle();
    this.chatButton.setAttribute('aria-pressed', String(shown));
    if (shown && !this.panelEl.hidden) this.togglePanel();
  }

  syncControls() {
    setControl(this.micButton, this.micOff ? 'micOff' : 'mic', this.micOff ? 'Unmute microphone' : 'Mute microphone', this.micOff);
    setControl(this.cameraButton, this.cameraOff ? 'cameraOff' : 'camera', this.cameraOff ? 'Turn on camera' : 'Turn off camera', this.cameraOff);
    setControl(this.screenButton, 'screen', this.screen ? 'Stop sharing' : 'Share screen', false);
    this.screenButton.classList.toggle('active', this.screen !== null);
    this.localTile.setVideoMuted(this.cameraOff);
    this.localTile.setMicMuted(this.micOff);
    const local = this.room.localParticipant;
    const audioRoom = this.room.settings.mode === 'audio';
    // Listeners have nothing to send; in an audio room only hosts and speakers take the floor.
    for (const button of [this.micButton, this.cameraButton, this.screenButton]) button.hidden = !this.canPublish;
    // Audio rooms carry voices only.
    this.cameraButton.hidden ||= audioRoom;
    this.screenButton.hidden ||= audioRoom;
    // Guests raise a hand in a meeting; in an audio room, listeners do to ask to speak.
    this.handButton.hidden = local.role === 'host' || (audioRoom && this.canPublish);
    this.localTile.setHand(local.handRaised);
    this.handButton.classList.toggle('active', local.handRaised);
    setControl(this.handButton, 'hand', local.handRaised ? 'Lower hand' : 'Raise hand', false);
    this.el?.classList.toggle('audio-room', audioRoom);
    this.localTile.el.dataset.role = local.role;
    this.renderPeople();
  }

  /**
   * Leaves; the last host of a meeting with others in it first chooses between ending
   * it for everyone and leaving it without a host.
   */
  async leave() {
    if (this.ended) return;
    const others = [...this.room.participants.values()];
    const lastHost = this.room.localParticipant.role === 'host' && others.length > 0 &&
      !others.some((p) => p.role === 'host');
    if (lastHost) {
      this.leaveDialog.showModal();
      return;
    }
    await this.leaveAnyway();
  }

  async leaveAnyway() {
    this.ended = true;
    await this.room.leave();
    this.finish({ kind: 'left' });
  }

  /** @param {MeetingEnd} end */
  finish(end) {
    this.ended = true;
    this.dispose();
    for (const track of [this.camera, this.microphone, this.screen]) track?.stop();
    this.options.onEnd(end);
  }

  /** @param {string} message */
  toast(message) {
    this.toastEl.textContent = message;
    this.toastEl.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => {
      this.toastEl.hidden = true;
    }, 5000);
  }
}
