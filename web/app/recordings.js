// The room's server recordings for hosts: a dialog listing them, newest first, with a
// download for each file. It opens by itself for the host who stops a recording, so that
// where the files went is never a question.

import { h, saveFile } from './dom.js';

/**
 * One file of a finished recording, as its manifest lists it.
 * @typedef {object} RecordingFile
 * @property {string} file
 * @property {string} codec e.g. `vp8+opus`
 * @property {number} duration_ms
 */

/**
 * A recording's manifest (`GET /api/rooms/{room}/recordings`), the parts shown here.
 * @typedef {object} RecordingManifest
 * @property {string} id
 * @property {import('/sdk/moim.js').RecordingKind} kind
 * @property {string} status `recording` while it runs, then `complete`
 * @property {number} started_at milliseconds since the epoch
 * @property {number} [ended_at]
 * @property {RecordingFile[]} files
 * @property {{ identity: string, name: string }[]} participants
 * @property {{ participant: string, source: string, file: string }[]} tracks
 */

/** @type {Record<string, string>} */
const KIND_TEXT = {
  track: 'Each track',
  participant: 'Each person',
  composite: 'Everyone in one video',
  audio_only: 'Audio',
  broadcast: 'The broadcast',
};

/**
 * @typedef {object} RecordingsDialogOptions
 * @property {() => string} room the room's name
 * @property {string} token an access token with the record grant
 * @property {(message: string) => void} onError
 */

export class RecordingsDialog {
  /** @param {RecordingsDialogOptions} options */
  constructor(options) {
    this.options = options;
    this.listEl = h('ul', { class: 'recordings-list' });
    this.el = h('dialog', { class: 'card recordings-dialog', id: 'recordings-dialog', 'aria-labelledby': 'recordings-title' },
      h('h2', { id: 'recordings-title' }, 'Recordings of this meeting'),
      this.listEl,
      h('form', { method: 'dialog' }, h('button', { class: 'button', type: 'submit' }, 'Close')));
  }

  /** Fetches the room's recordings and shows them. */
  async open() {
    this.listEl.replaceChildren(h('li', { class: 'muted-text' }, 'Loading…'));
    if (!this.el.open) this.el.showModal();
    const room = this.options.room();
    try {
      const res = await this.fetch(`/api/rooms/${encodeURIComponent(room)}/recordings`);
      const { recordings } = /** @type {{ recordings: RecordingManifest[] }} */ (await res.json());
      this.render(recordings);
    } catch (err) {
      this.listEl.replaceChildren(h('li', { class: 'form-error' }, err instanceof Error ? err.message : String(err)));
    }
  }

  /** @param {RecordingManifest[]} recordings */
  render(recordings) {
    if (recordings.length === 0) {
      this.listEl.replaceChildren(h('li', { class: 'muted-text' }, 'This meeting has no server recordings yet.'));
      return;
    }
    this.listEl.replaceChildren(...recordings.map((r) => {
      const started = new Date(r.started_at);
      const running = r.status === 'recording';
      const length = r.ended_at ? ` · ${duration(r.ended_at - r.started_at)}` : '';
      return h('li', { class: 'recording-item', 'data-recording-id': r.id },
        h('div', { class: 'recording-meta' },
          h('strong', {}, KIND_TEXT[r.kind] ?? r.kind),
          h('span', { class: 'muted-text' }, ` · ${started.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })}${length}`),
          running ? h('span', { class: 'badge' }, 'Recording now') : null,
          r.status === 'interrupted' ? h('span', { class: 'badge' }, 'Interrupted') : null),
        h('div', { class: 'recording-files' },
          ...r.files.map((f) => h('button', {
            class: 'link', type: 'button', 'data-file': f.file, title: f.file,
            onclick: () => this.download(r.id, f.file),
          }, `${fileLabel(r, f.file)} (${duration(f.duration_ms)})`)),
          h('button', { class: 'link', type: 'button', 'data-file': 'manifest.json',
            onclick: () => this.download(r.id, 'manifest.json') }, 'manifest.json')));
    }));
  }

  /**
   * Saves one file of a recording.
   * @param {string} id
   * @param {string} file
   */
  async download(id, file) {
    const room = this.options.room();
    try {
      const res = await this.fetch(`/api/rooms/${encodeURIComponent(room)}/recordings/${id}/${encodeURIComponent(file)}`);
      saveFile(await res.blob(), `${room}-${id}-${file}`);
    } catch (err) {
      this.options.onError(`Could not download ${file}: ${err instanceof Error ? err.message : err}`);
    }
  }

  /**
   * A GET with the access token; rejects with the server's sentence when refused.
   * @param {string} url
   */
  async fetch(url) {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${this.options.token}` } });
    if (!res.ok) {
      const body = await res.json().catch(() => ({ message: res.statusText }));
      throw new Error(body.message);
    }
    return res;
  }
}

/**
 * What a file holds, in people's words: "Ada · camera" for one track, "Ada" for a
 * person's audio and video, else its name ("composite.webm").
 * @param {RecordingManifest} r
 * @param {string} file
 */
function fileLabel(r, file) {
  const tracks = r.tracks.filter((t) => t.file === file);
  const owners = new Set(tracks.map((t) => t.participant));
  if (owners.size !== 1) return file;
  const [identity] = owners;
  const name = r.participants.find((p) => p.identity === identity)?.name ?? identity;
  return tracks.length === 1 ? `${name} · ${tracks[0].source.replace('_', ' ')}` : name;
}

/** "1:05" or "1:02:05" for a length in milliseconds. @param {number} ms */
function duration(ms) {
  const s = Math.round(ms / 1000);
  const hms = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const parts = hms[0] > 0 ? hms : hms.slice(1);
  return parts.map((n, i) => (i === 0 ? String(n) : String(n).padStart(2, '0'))).join(':');
}
