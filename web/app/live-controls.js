// Live broadcasts in the meeting app: the LIVE indicator everyone sees while the room is
// live, and for hosts a "Go live" button with a dialog: whose camera to broadcast and
// whether anyone may watch; once live, the links to give viewers (the HLS playlist, the
// watch page, an embed snippet) and the way to stop.

import { controlButton, h, icon } from './dom.js';

/** @typedef {import('/sdk/moim.js').Room} Room */
/** @typedef {import('/sdk/moim.js').BroadcastInfo} BroadcastInfo */
/** @typedef {import('/sdk/moim.js').BroadcastPlayback} BroadcastPlayback */

/**
 * @typedef {object} LiveControlsOptions
 * @property {Room} room
 * @property {string} token the access token, to ask the server where a broadcast another
 *   host started is watched
 * @property {(message: string) => void} onNotice tells the user something outside the dialog
 */

export class LiveControls {
  /** @param {LiveControlsOptions} options */
  constructor(options) {
    this.options = options;
    this.host = false;
    /** This host is stopping the broadcast (and needs no notice that it stopped). */
    this.stopping = false;
    this.indicator = h('span', { class: 'live-indicator', id: 'live-indicator', role: 'status', hidden: true,
      title: 'This meeting is broadcast live' }, h('span', { class: 'dot' }), 'LIVE');
    this.button = controlButton('live', 'Go live', () => this.open());
    this.button.id = 'go-live';
    this.button.hidden = true;

    this.sourceSelect = h('select', { id: 'live-source' });
    this.publicInput = h('input', { type: 'checkbox', id: 'live-public' });
    this.startButton = h('button', { class: 'button primary', type: 'button', id: 'live-start', onclick: () => this.start() },
      'Start broadcast');
    this.errorEl = h('p', { class: 'form-error', role: 'alert' });
    this.startView = h('div', { class: 'live-view' },
      h('label', { class: 'label', for: 'live-source' }, 'What viewers see'),
      this.sourceSelect,
      h('label', { class: 'switch' }, this.publicInput, 'Public'),
      h('p', { class: 'hint' }, 'A public broadcast is open to anyone who finds its page. A private one only to those given its links, which work for a day.'),
      this.errorEl,
      h('div', { class: 'row end' },
        h('button', { class: 'button', type: 'button', onclick: () => this.el.close() }, 'Cancel'),
        this.startButton));

    this.stateEl = h('p', { class: 'notice', id: 'live-state' });
    this.hlsInput = h('input', { type: 'text', readonly: true, id: 'live-hls-url', 'aria-label': 'HLS playlist' });
    this.watchInput = h('input', { type: 'text', readonly: true, id: 'live-watch-url', 'aria-label': 'Watch page' });
    this.embedInput = h('textarea', { readonly: true, id: 'live-embed', rows: 3, 'aria-label': 'Embed code' });
    this.linksHint = h('p', { class: 'hint' });
    this.stopButton = h('button', { class: 'button danger', type: 'button', id: 'stop-live', onclick: () => this.stop() },
      'Stop broadcast');
    this.liveView = h('div', { class: 'live-view' },
      this.stateEl,
      linkField('HLS playlist', 'For players and CDNs: the quality ladder, low latency.', this.hlsInput),
      linkField('Watch page', 'Plays in any browser, over WebRTC with under a second of delay, else HLS.', this.watchInput),
      linkField('Embed', 'The watch page inside another site.', this.embedInput),
      this.linksHint,
      h('div', { class: 'row end' },
        this.stopButton,
        h('button', { class: 'button', type: 'button', onclick: () => this.el.close() }, 'Close')));

    this.titleEl = h('h2', { id: 'live-title' });
    this.el = h('dialog', { class: 'card live-dialog', id: 'live-dialog', 'aria-labelledby': 'live-title' },
      this.titleEl, this.startView, this.liveView);
    options.room.broadcast.on('change', (info, playback, reason) => this.onChange(info, playback, reason));
    this.sync();
  }

  /** Only hosts broadcast. @param {boolean} host */
  setHost(host) {
    this.host = host;
    this.button.hidden = !host;
    if (!host && this.el.open) this.el.close();
  }

  /** Opens the dialog: the choices before going live, the links while live. */
  open() {
    const { current, playback } = this.options.room.broadcast;
    if (current) {
      this.showLive(current, playback);
    } else {
      this.showStart();
    }
    if (!this.el.open) this.el.showModal();
  }

  showStart() {
    const room = this.options.room;
    const me = room.localParticipant;
    const myCamera = room.publications.some((p) => p.source === 'camera');
    const others = [...room.participants.values()].filter((p) => p.trackBySource('camera'));
    this.sourceSelect.replaceChildren(
      h('option', { value: me.identity }, `${me.name} (you)${myCamera ? '' : ', camera off'}`),
      ...others.map((p) => h('option', { value: p.identity }, p.name)),
      h('option', { value: 'composite' }, 'Everyone, in a grid (like the composite recording)'));
    this.sourceSelect.value = me.identity;
    this.errorEl.textContent = '';
    this.titleEl.textContent = 'Go live';
    this.startView.hidden = false;
    this.liveView.hidden = true;
  }

  /**
   * @param {BroadcastInfo} info
   * @param {BroadcastPlayback | null} playback null when another host started it: asked of
   *   the server
   */
  showLive(info, playback) {
    this.titleEl.textContent = 'Live';
    this.startView.hidden = true;
    this.liveView.hidden = false;
    const room = this.options.room;
    const source = info.source === 'composite'
      ? 'everyone, in a grid'
      : info.source === room.localParticipant.identity
      ? 'your camera and microphone'
      : `the camera and microphone of ${[...room.participants.values()].find((p) => p.identity === info.source)?.name ?? info.source}`;
    this.stateEl.textContent = `The room is live: viewers see ${source}.`;
    if (playback) {
      this.showLinks(playback);
    } else {
      this.showLinks(null);
      this.fetchPlayback(info.id);
    }
  }

  /** @param {BroadcastPlayback | null} playback */
  showLinks(playback) {
    const hls = playback ? location.origin + playback.hls : '';
    const watch = playback ? location.origin + playback.watch : '';
    this.hlsInput.value = hls;
    this.watchInput.value = watch;
    this.embedInput.value = playback
      ? `<iframe src="${escapeAttribute(watch)}" allow="autoplay; fullscreen" width="960" height="540"></iframe>`
      : '';
    const expires = playback?.expires_at;
    this.linksHint.textContent = !playback ? 'Loading the links…'
      : expires ? `These links carry a key and work until ${new Date(expires * 1000).toLocaleString()}.`
        : 'Anyone may watch: the links carry no key.';
  }

  /**
   * Where the room's broadcast is watched, for a host who did not start it (the server
   * gives a private broadcast's fresh keys to hosts who list it).
   * @param {string} id
   */
  async fetchPlayback(id) {
    const room = this.options.room;
    try {
      const res = await fetch(`/api/rooms/${encodeURIComponent(room.name)}/broadcasts`, {
        headers: { Authorization: `Bearer ${this.options.token}` },
      });
      const body = await res.json().catch(() => null);
      if (!res.ok) throw new Error(body?.message ?? `The server did not list the broadcast (HTTP ${res.status}).`);
      const listed = /** @type {{ broadcasts: { id: string, playback: BroadcastPlayback }[] }} */ (body)
        .broadcasts.find((b) => b.id === id);
      if (room.broadcast.current?.id !== id) return;
      if (!listed) throw new Error('The server does not list this broadcast any more.');
      this.showLinks(listed.playback);
    } catch (err) {
      this.linksHint.textContent = `Could not get the links: ${err instanceof Error ? err.message : err}`;
    }
  }

  async start() {
    this.startButton.disabled = true;
    this.errorEl.textContent = '';
    try {
      await this.options.room.broadcast.start({ source: this.sourceSelect.value, public: this.publicInput.checked });
    } catch (err) {
      this.errorEl.textContent = err instanceof Error ? err.message : String(err);
    } finally {
      this.startButton.disabled = false;
    }
  }

  async stop() {
    this.stopButton.disabled = true;
    this.stopping = true;
    try {
      await this.options.room.broadcast.stop();
      this.el.close();
    } catch (err) {
      this.linksHint.textContent = err instanceof Error ? err.message : String(err);
    } finally {
      this.stopping = false;
      this.stopButton.disabled = false;
    }
  }

  /**
   * @param {BroadcastInfo | null} info
   * @param {BroadcastPlayback | null} playback
   * @param {import('/sdk/moim.js').BroadcastStopReason} [reason]
   */
  onChange(info, playback, reason) {
    this.sync();
    if (info) {
      if (this.el.open) this.showLive(info, playback);
      return;
    }
    if (this.el.open && !this.liveView.hidden) this.el.close();
    if (this.host && !this.stopping) {
      this.options.onNotice(reason === 'source_gone'
        ? 'The live broadcast stopped: its source left and did not come back.'
        : 'The live broadcast stopped.');
    }
  }

  sync() {
    const live = this.options.room.broadcast.current !== null;
    this.indicator.hidden = !live;
    this.button.classList.toggle('live', live);
    const label = live ? 'Live: links and stop' : 'Go live';
    this.button.setAttribute('aria-label', label);
    this.button.title = label;
  }
}

/**
 * A labelled read-only field with a button copying what it holds.
 * @param {string} label
 * @param {string} hint
 * @param {HTMLInputElement | HTMLTextAreaElement} field
 */
function linkField(label, hint, field) {
  const copy = h('button', {
    class: 'button icon-button',
    type: 'button',
    id: `${field.id}-copy`,
    title: `Copy ${label.toLowerCase()}`,
    'aria-label': `Copy ${label.toLowerCase()}`,
    onclick: async () => {
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
      } catch {
        document.execCommand('copy');
      }
      copy.classList.add('copied');
      setTimeout(() => copy.classList.remove('copied'), 1200);
    },
  }, icon('copy'));
  return h('div', { class: 'link-row' },
    h('label', { class: 'label', for: field.id }, label),
    h('div', { class: 'row' }, field, copy),
    h('span', { class: 'hint' }, hint));
}

/** @param {string} text */
function escapeAttribute(text) {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
