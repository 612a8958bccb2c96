// The participant panel: who is here (with their microphone, camera and raised hand), and
// for hosts the room's settings, the waiting room and what they can do to each person.

import { h, icon } from './dom.js';

/** @typedef {import('/sdk/moim.js').Room} Room */
/** @typedef {import('/sdk/moim.js').RemoteParticipant} RemoteParticipant */

/**
 * @typedef {object} PeopleOptions
 * @property {Room} room
 * @property {() => { name: string, micOff: boolean, cameraOff: boolean }} local your own state
 * @property {(count: number) => void} onCount how many are in the room, you included
 */

export class PeoplePanel {
  /** @param {PeopleOptions} options */
  constructor(options) {
    this.options = options;
    /** Tracks this host muted with a lock: their owners may not unmute until allowed. */
    this.locked = new Set();
    const { room } = options;
    this.listEl = h('ul', { class: 'people' });
    this.waitingEl = h('section', { class: 'waiting', id: 'waiting-room', hidden: true });
    this.settingsEl = h('section', { class: 'room-settings', hidden: true });
    this.endButton = h('button', { class: 'btn danger', type: 'button', id: 'end-meeting', hidden: true,
      onclick: () => { if (confirm('End the meeting for everyone?')) room.moderation.endMeeting(); } }, 'End meeting for all');
    this.el = h('aside', { class: 'panel', id: 'participants-panel', hidden: true, 'aria-label': 'Participants' },
      h('h2', {}, 'People'), this.settingsEl, this.waitingEl, this.listEl, this.endButton);
    room.moderation.on('waiting', () => this.render());
    room.on('settings', () => this.render());
    room.on('participantUpdated', () => this.render());
  }

  /** Renders everything again from the room's state. */
  render() {
    const { room } = this.options;
    const local = room.localParticipant;
    const host = local.role === 'host';
    const audioRoom = room.settings.mode === 'audio';
    const me = this.options.local();
    const rows = [
      personRow(me.name, true, local.role, local.handRaised, me.micOff, me.cameraOff),
      ...[...room.participants.values()].map((p) => this.remoteRow(p, host, audioRoom)),
    ];
    this.listEl.replaceChildren(...rows);
    this.endButton.hidden = !host;
    this.renderSettings(host);
    this.renderWaiting(host);
    this.options.onCount(rows.length);
  }

  /**
   * @param {RemoteParticipant} p
   * @param {boolean} host you are a host
   * @param {boolean} audioRoom
   */
  remoteRow(p, host, audioRoom) {
    const { moderation } = this.options.room;
    const mic = p.trackBySource('microphone');
    const cam = p.trackBySource('camera');
    const row = personRow(p.name, false, p.role, p.handRaised, !mic || mic.muted, !cam || cam.muted);
    row.dataset.identity = p.identity;
    if (!host) return row;
    const actions = h('div', { class: 'person-actions' });
    row.append(actions);
    /** @param {string} action @param {string} label @param {() => void} onclick */
    const action = (action, label, onclick) =>
      h('button', { class: 'link', type: 'button', 'data-action': action, onclick }, label);
    if (audioRoom && p.role !== 'host') {
      actions.append(p.role === 'viewer'
        ? action('promote', 'Make speaker', () => moderation.setSpeaker(p.sid, true))
        : action('demote', 'Make listener', () => moderation.setSpeaker(p.sid, false)));
    }
    /**
     * Mute a track with a lock, or allow its owner to turn it on again.
     * @param {import('/sdk/moim.js').TrackInfo | undefined} track
     * @param {[string, string]} mute action and label while it is on
     * @param {[string, string]} allow action and label while this host keeps it off
     */
    const control = (track, mute, allow) => {
      if (!track) return;
      if (!track.muted) {
        this.locked.delete(track.sid);
        actions.append(action(mute[0], mute[1], () => {
          this.locked.add(track.sid);
          moderation.mute(p.sid, track.sid, { lock: true });
        }));
      } else if (this.locked.has(track.sid)) {
        actions.append(action(allow[0], allow[1], () => {
          this.locked.delete(track.sid);
          moderation.mute(p.sid, track.sid, { muted: false });
          this.render();
        }));
      }
    };
    control(mic, ['mute', 'Mute'], ['allow-mic', 'Allow to unmute']);
    control(cam, ['stop-video', 'Stop video'], ['allow-video', 'Allow video']);
    const remove = action('remove', 'Remove', () => {
      if (confirm(`Remove ${p.name} from the meeting? They cannot rejoin it (until the server restarts).`)) moderation.remove(p.sid, { ban: true });
    });
    remove.classList.add('danger-text');
    actions.append(remove);
    return row;
  }

  /** @param {boolean} host */
  renderSettings(host) {
    this.settingsEl.hidden = !host;
    if (!host) return;
    const { room } = this.options;
    const settings = room.settings;
    /**
     * @param {string} id
     * @param {string} label
     * @param {boolean} checked
     * @param {(on: boolean) => void} change
     */
    const toggle = (id, label, checked, change) => {
      const input = h('input', { type: 'checkbox', id, checked, onchange: () => change(input.checked) });
      return h('label', { class: 'toggle' }, input, label);
    };
    this.settingsEl.replaceChildren(
      toggle('lock-room', 'Lock meeting', settings.locked, (on) => room.moderation.setSettings({ locked: on })),
      toggle('waiting-room-toggle', 'Waiting room', settings.waiting_room, (on) => room.moderation.setSettings({ waitingRoom: on })),
      toggle('audio-room', 'Audio room (listeners until made speakers)', settings.mode === 'audio',
        (on) => room.moderation.setSettings({ mode: on ? 'audio' : 'meeting' })),
    );
  }

  /** @param {boolean} host */
  renderWaiting(host) {
    const { moderation } = this.options.room;
    const waiting = host ? moderation.waiting : [];
    this.waitingEl.hidden = waiting.length === 0;
    this.waitingEl.replaceChildren(
      h('h3', {}, `Waiting (${waiting.length})`),
      ...waiting.map((w) => h('div', { class: 'person', 'data-identity': w.identity },
        h('span', { class: 'person-name' }, w.name || w.identity),
        h('button', { class: 'link', type: 'button', 'data-action': 'admit', onclick: () => moderation.admit(w.sid) }, 'Admit'),
        h('button', { class: 'link danger-text', type: 'button', 'data-action': 'reject', onclick: () => moderation.reject(w.sid) }, 'Reject'))),
    );
  }
}

const ROLE_BADGE = /** @type {Record<string, string>} */ ({ host: 'Host' });

/**
 * @param {string} name
 * @param {boolean} you
 * @param {import('/sdk/moim.js').ParticipantRole} role
 * @param {boolean} handRaised
 * @param {boolean} micOff
 * @param {boolean} cameraOff
 */
function personRow(name, you, role, handRaised, micOff, cameraOff) {
  const badge = ROLE_BADGE[role];
  return h(
    'li',
    { class: 'person', 'data-role': role },
    h('span', { class: 'person-name' }, name, you ? h('span', { class: 'muted-text' }, ' (you)') : null),
    handRaised ? h('span', { class: 'hand', title: 'Hand raised', 'aria-label': 'Hand raised' }, icon('hand')) : null,
    badge ? h('span', { class: 'badge' }, badge) : null,
    h('span', { class: `state${cameraOff ? ' off' : ''}`, title: cameraOff ? 'Camera off' : 'Camera on' }, icon(cameraOff ? 'cameraOff' : 'camera')),
    h('span', { class: `state${micOff ? ' off' : ''}`, title: micOff ? 'Microphone off' : 'Microphone on' }, icon(micOff ? 'micOff' : 'mic')),
  );
}
