// Recording in the meeting app: the indicator everyone sees while the server records,
// and for hosts a Record button with a menu: on the server (each track, each person,
// everyone in one video, or the mixed audio), in this browser (video and audio), or audio
// only in this browser; and the room's server recordings to download, shown to the host
// who stops one.

import { RecordingsDialog } from './recordings.js';

import { controlButton, h, saveFile } from './dom.js';
import { LocalRecording } from './local-recording.js';

/** @typedef {import('/sdk/moim.js').Room} Room */

/**
 * @typedef {object} RecordControlsOptions
 * @property {Room} room
 * @property {HTMLElement} stage the tiles, for local recordings
 * @property {() => MediaStreamTrack[]} audioTracks every audio track of the meeting
 * @property {string} token the access token, to list and download recordings with
 * @property {(message: string) => void} onError
 * @property {(message: string) => void} onNotice tells the user something that went well
 */

export class RecordControls {
  /** @param {RecordControlsOptions} options */
  constructor(options) {
    this.options = options;
    /** @type {LocalRecording | null} */
    this.local = null;
    this.indicator = h('span', { class: 'rec-indicator', id: 'recording-indicator', role: 'status', hidden: true,
      title: 'This meeting is being recorded' }, h('span', { class: 'dot' }), 'REC');
    /** @param {string} id @param {string} label @param {() => void} onclick */
    const item = (id, label, onclick) => h('button', { class: 'link', type: 'button', id, onclick: () => {
      this.menu.hidden = true;
      onclick();
    } }, label);
    this.menu = h('div', { class: 'record-menu', id: 'record-menu', hidden: true, role: 'menu' },
      item('record-server', 'Record each track on the server', () => this.startServer('track')),
      item('record-server-participants', 'Record each person on the server', () => this.startServer('participant')),
      item('record-server-composite', 'Record everyone in one video on the server', () => this.startServer('composite')),
      item('record-server-audio', 'Record the audio on the server', () => this.startServer('audio_only')),
      item('record-local', 'Record in this browser', () => this.startLocal(false)),
      item('record-local-audio', 'Record audio in this browser', () => this.startLocal(true)),
      item('recordings-open', 'Recordings of this meeting…', () => this.recordings.open()));
    this.recordings = new RecordingsDialog({
      room: () => options.room.name,
      token: options.token,
      onError: options.onError,
    });
    /** This host is stopping the server recording (and will be shown its files). */
    this.stopping = false;
    this.host = false;
    this.button = controlButton('record', 'Record', () => this.toggle());
    this.button.id = 'record';
    this.button.hidden = true;
    options.room.recording.on('change', (info, reason) => {
      if (info === null && this.host && !this.stopping) {
        const why = reason === 'max_duration' ? ' at the server\'s longest recording time'
          : reason === 'storage_full' ? ' because the server\'s recordings storage is full' : '';
        options.onNotice(`The server recording stopped${why}. Its files are under Record → Recordings of this meeting.`);
      }
      this.sync();
    });
    this.sync();
  }

  /** Only hosts record. @param {boolean} host */
  setHost(host) {
    this.host = host;
    this.button.hidden = !host;
    if (!host) this.menu.hidden = true;
  }

  async toggle() {
    if (this.local) {
      const audioOnly = this.local.options.audioOnly;
      const blob = await this.local.stop();
      this.local = null;
      saveFile(blob, `${this.options.room.name}-${audioOnly ? 'audio' : 'meeting'}.webm`);
      this.sync();
    } else if (this.options.room.recording.current) {
      this.stopping = true;
      try {
        await this.options.room.recording.stop();
        await this.recordings.open();
      } catch (err) {
        this.options.onError(err instanceof Error ? err.message : String(err));
      } finally {
        this.stopping = false;
      }
    } else {
      this.menu.hidden = !this.menu.hidden;
    }
  }

  /** @param {import('/sdk/moim.js').RecordingKind} kind */
  async startServer(kind) {
    await this.options.room.recording.start(kind).catch((err) => this.options.onError(err.message));
  }

  /** @param {boolean} audioOnly */
  async startLocal(audioOnly) {
    try {
      const local = new LocalRecording({ stage: this.options.stage, audioTracks: this.options.audioTracks, audioOnly });
      await local.start();
      this.local = local;
    } catch (err) {
      this.options.onError(`Could not record in this browser: ${err instanceof Error ? err.message : err}`);
    }
    this.sync();
  }

  sync() {
    const server = this.options.room.recording.current !== null;
    this.indicator.hidden = !server;
    const recording = server || this.local !== null;
    this.button.classList.toggle('recording', recording);
    const label = this.local ? 'Stop and save the recording' : server ? 'Stop recording' : 'Record';
    this.button.setAttribute('aria-label', label);
    this.button.title = label;
  }
}
