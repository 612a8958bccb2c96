// The meeting screen: the stage, the controls, the panels, the connection indicator, the
// waiting notice and alert, and leaving. Everything it knows about the room comes from the
// client library's events.

import { MoimError, Room } from '/sdk/moim.js';
import { ChatPanel } from './chat.js';
import { controlButton, h, setControl } from './dom.js';
import { LiveControls } from './live-controls.js';
import { LocalMedia } from './local-media.js';
import { NetworkPanel } from './network.js';
import { PeoplePanel } from './people.js';
import { RecordControls } from './record-controls.js';
import { RemoteAudio } from './remote-audio.js';
import { Stage } from './stage.js';
import { WhiteboardPanel } from './whiteboard.js';

/** @typedef {import('/sdk/moim.js').RemoteParticipant} RemoteParticipant */
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
  meeting.stage.layout();
}

class Meeting {
  /** @param {MeetingOptions} options */
  constructor(options) {
    this.options = options;
    this.room = new Room();
    // For diagnostics and tests: the page's one Room.
    /** @type {any} */ (window).moimRoom = this.room;
    this.ended = false;
    this.joined = false;

    /** @type {MoimError | null} */
    this.lastError = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.toastTimer = undefined;

    const { choice, room } = this.options;
    this.stateEl = h('div', { class: 'conn', id: 'connection-state', role: 'status', 'data-state': 'connecting' },
      h('span', { class: 'dot' }), h('span', { class: 'conn-text' }, STATE_TEXT.connecting));
    this.stage = new Stage({ room: this.room, name: choice.name });
    this.network = new NetworkPanel(this.room);
    this.media = new LocalMedia({
      room: this.room,
      choice,
      stage: this.stage,
      onError: (message) => this.toast(message),
      onChange: () => this.syncControls(),
    });
    this.remoteAudio = new RemoteAudio();
    this.countEl = h('span', { class: 'count' }, '1');
    this.people = new PeoplePanel({
      room: this.room,
      local: () => ({ name: this.room.localParticipant.name || choice.name, micOff: this.media.micOff || !this.media.microphone, cameraOff: this.media.cameraOff }),
      onCount: (n) => { this.countEl.textContent = String(n); },
    });
    this.panelEl = this.people.el;

    this.micButton = controlButton('mic', 'Mute microphone', () => this.media.toggleMic());
    this.cameraButton = controlButton('camera', 'Turn off camera', () => this.media.toggleCamera());
    this.screenButton = controlButton('screen', 'Share screen', () => this.media.toggleScreen());
    this.peopleButton = controlButton('people', 'Participants', () => this.togglePanel());
    this.peopleButton.append(this.countEl);
    this.handButton = controlButton('hand', 'Raise hand', () => this.room.raiseHand(!this.room.localParticipant.handRaised));
    this.handButton.id = 'raise-hand';
    this.unreadEl = h('span', { class: 'count unread', id: 'chat-unread', hidden: true });
    this.chatButton = controlButton('chat', 'Chat', () => this.toggleChat());
    this.viewButton = controlButton('speakerView', 'Speaker view', () => this.toggleSpeakerView());
    this.chatButton.append(this.unreadEl);
    this.board = new WhiteboardPanel({
      room: this.room,
      nameOf: (sid) => this.room.participants.get(sid)?.name ?? '',
    });
    this.boardButton = controlButton('board', 'Whiteboard', () => this.toggleBoard());
    this.record = new RecordControls({
      room: this.room,
      stage: this.stage.el,
      audioTracks: () => [...(this.media.microphone ? [this.media.microphone] : []), ...this.remoteAudio.tracks()],
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

    this.el = h(
      'div',
      { class: 'meeting' },
      h('header', { class: 'topbar' },
        h('div', { class: 'brand small' }, h('div', { class: 'logo', 'aria-hidden': 'true' }, 'M'), h('span', { class: 'room-title' }, room)),
        this.live.indicator, this.record.indicator, h('div', { class: 'topbar-end' }, this.network.button, this.stateEl)),
      h('div', { class: 'body' }, this.board.el, this.stage.el, this.panelEl, this.chat.el),
      this.controlsEl = h('footer', { class: 'controls' }, this.micButton, this.cameraButton, this.handButton, this.chatButton, this.moreEl, this.moreButton, leaveButton, this.record.menu),
      this.remoteAudio.el,
      this.toastEl,
      this.waitingAlert,
      this.leaveDialog,
      this.record.recordings.el,
      this.live.el,
      this.network.el,
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
    this.stage.dispose();
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
      this.media.toggleMic();
    } else if (key === 'e' && !this.cameraButton.hidden) {
      e.preventDefault();
      this.media.toggleCamera();
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
      this.stage.addParticipant(p);
      this.syncParticipant(p);
      this.stage.layout();
    });
    room.on('participantLeft', (p) => {
      this.stage.removeParticipant(p.sid);
      this.renderPeople();
      this.stage.layout();
    });
    room.on('trackPublished', (_info, p) => this.syncParticipant(p));
    room.on('trackUnpublished', (info, p) => {
      if (info.source === 'screen') this.stage.removeScreenTile(info.sid);
      this.syncParticipant(p);
    });
    room.on('trackMuted', (_info, p) => this.syncParticipant(p));
    room.on('trackPaused', (info, p) => this.stage.setPaused(p, info));
    room.on('connectionQuality', (p) => {
      if (p === room.localParticipant) this.stage.localTile.setQuality(p.quality);
      else this.syncParticipant(/** @type {RemoteParticipant} */ (p));
    });
    room.on('activeSpeakers', (sids) => this.stage.markSpeakers(sids));
    room.on('mutedByHost', ({ source, muted, locked }) => {
      const what = source === 'camera' ? 'camera' : 'microphone';
      if (muted) {
        if (source === 'microphone') this.media.micOff = true;
        if (source === 'camera') this.media.cameraOff = true;
        this.syncControls();
        this.toast(`A host turned off your ${what}${locked ? '; you can turn it on once they allow it' : ''}.`);
      } else {
        this.toast(`A host allows you to turn your ${what} on again.`);
      }
    });
    room.on('participantUpdated', (p) => {
      if (p === room.localParticipant) this.onLocalUpdated();
      else this.syncParticipant(/** @type {RemoteParticipant} */ (p));
      this.stage.layout();
    });
    room.moderation.on('waiting', (list) => this.showWaiting(list));
    room.on('settings', (settings) => {
      // Audio rooms carry voices only: cameras and screens go off (the server stops
      // forwarding them anyway); back in a meeting, people turn their camera on again.
      if (settings.mode === 'audio') this.media.stopVideo();
      this.syncControls();
    });
    room.on('trackSubscribed', (track, p, info) => {
      if (info.kind === 'audio') this.remoteAudio.add(track, p, info);
      else this.stage.showTrack(track, p, info);
    });
    room.on('trackUnsubscribed', (_track, p, info) => {
      if (info.kind === 'audio') this.remoteAudio.remove(info.sid);
      else this.stage.hideTrack(p, info);
    });
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
    this.stage.identifyLocal(this.room.localParticipant.name || choice.name);
    const media = this.media;
    media.canPublish = this.room.localParticipant.canPublish;
    if (!media.canPublish || this.room.settings.mode === 'audio') media.stopVideo();
    this.syncControls();
    if (!media.canPublish) return;
    if (media.camera) media.publish(media.camera, 'camera', media.cameraOff);
    if (media.microphone) media.publish(media.microphone, 'microphone', media.micOff);
  }

  /** A host made you a speaker (publish your microphone, muted) or a listener again. */
  onLocalUpdated() {
    const media = this.media;
    const can = this.room.localParticipant.canPublish;
    if (can !== media.canPublish) {
      media.canPublish = can;
      if (can) {
        media.micOff = true;
        if (media.microphone) media.publish(media.microphone, 'microphone', true);
        this.toast(this.room.settings.mode === 'audio'
          ? 'A host made you a speaker. Unmute your microphone to talk.'
          : 'This is a meeting again: unmute your microphone and turn on your camera to take part.');
      } else {
        media.micOff = true;
        media.stopVideo();
        this.toast('A host made you a listener.');
      }
    }
    this.syncControls();
  }

  /** Brings a participant's camera tile and list entry in line with their tracks. @param {RemoteParticipant} p */
  syncParticipant(p) {
    this.stage.syncParticipant(p);
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

  toggleSpeakerView() {
    const on = this.stage.toggleSpeakerView();
    setControl(this.viewButton, 'speakerView', on ? 'Grid view' : 'Speaker view', false);
    this.viewButton.classList.toggle('active', on);
  }

  /** The whiteboard takes the stage's place while it is open, the videos in a strip beside it. */
  toggleBoard() {
    const open = this.board.toggle();
    this.boardButton.setAttribute('aria-pressed', String(open));
    this.el.querySelector('.body')?.classList.toggle('board-open', open);
    this.stage.setBoardOpen(open);
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
    const { micOff, cameraOff, screen, canPublish } = this.media;
    const localTile = this.stage.localTile;
    setControl(this.micButton, micOff ? 'micOff' : 'mic', micOff ? 'Unmute microphone' : 'Mute microphone', micOff);
    setControl(this.cameraButton, cameraOff ? 'cameraOff' : 'camera', cameraOff ? 'Turn on camera' : 'Turn off camera', cameraOff);
    setControl(this.screenButton, 'screen', screen ? 'Stop sharing' : 'Share screen', false);
    this.screenButton.classList.toggle('active', screen !== null);
    localTile.setVideoMuted(cameraOff);
    localTile.setMicMuted(micOff);
    const local = this.room.localParticipant;
    const audioRoom = this.room.settings.mode === 'audio';
    // Listeners have nothing to send; in an audio room only hosts and speakers take the floor.
    for (const button of [this.micButton, this.cameraButton, this.screenButton]) button.hidden = !canPublish;
    // Audio rooms carry voices only.
    this.cameraButton.hidden ||= audioRoom;
    this.screenButton.hidden ||= audioRoom;
    // Guests raise a hand in a meeting; in an audio room, listeners do to ask to speak.
    this.handButton.hidden = local.role === 'host' || (audioRoom && canPublish);
    localTile.setHand(local.handRaised);
    this.handButton.classList.toggle('active', local.handRaised);
    setControl(this.handButton, 'hand', local.handRaised ? 'Lower hand' : 'Raise hand', false);
    this.el?.classList.toggle('audio-room', audioRoom);
    localTile.el.dataset.role = local.role;
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
    this.media.stopAll();
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
