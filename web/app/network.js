// Your connection at a glance: a button in the top bar with your connection quality, and
// the panel it opens with your own numbers as the server measures them (round-trip time,
// loss each way, jitter, what you send and receive, the downlink estimate, UDP or TCP).

import { h } from './dom.js';

/** @typedef {import('/sdk/moim.js').Room} Room */
/** @typedef {import('/sdk/moim.js').NetworkStats} NetworkStats */
/** @typedef {import('/sdk/moim.js').ConnectionQuality} ConnectionQuality */

/** @param {number | undefined} n @param {string} unit */
const value = (n, unit) => (n === undefined ? '–' : `${Number.isInteger(n) ? n : n.toFixed(1)} ${unit}`);

export class NetworkPanel {
  /** @param {Room} room */
  constructor(room) {
    this.room = room;
    this.button = h('button', {
      class: 'network-button', id: 'network-button', type: 'button', 'aria-expanded': 'false',
      'aria-controls': 'network-panel', onclick: () => this.toggle(),
    }, h('span', { class: 'quality', 'data-quality': 'unknown' }, h('i', {}), h('i', {}), h('i', {})), h('span', { class: 'label' }, 'Network'));
    /** @type {Map<string, HTMLElement>} */
    this.cells = new Map();
    const row = (/** @type {string} */ key, /** @type {string} */ label) => {
      const cell = h('dd', { 'data-stat': key }, '–');
      this.cells.set(key, cell);
      return [h('dt', {}, label), cell];
    };
    this.qualityText = h('p', { class: 'network-quality' }, 'Measuring your connection…');
    this.el = h('section', { class: 'card network-panel', id: 'network-panel', 'aria-label': 'Your network', hidden: true },
      h('h2', {}, 'Your network'),
      this.qualityText,
      h('dl', {},
        ...row('rtt', 'Round trip'),
        ...row('loss_up', 'Loss sending'),
        ...row('loss_down', 'Loss receiving'),
        ...row('jitter', 'Jitter'),
        ...row('up', 'Sending'),
        ...row('down', 'Receiving'),
        ...row('estimate', 'Downlink estimate'),
        ...row('transport', 'Transport')));
    room.on('networkStats', (stats) => this.show(stats));
    room.on('connectionQuality', (p) => {
      if (p === room.localParticipant) this.setQuality(p.quality);
    });
  }

  toggle(open = this.el.hidden) {
    this.el.hidden = !open;
    this.button.setAttribute('aria-expanded', String(open));
  }

  /** @param {ConnectionQuality | null} quality */
  setQuality(quality) {
    const bars = /** @type {HTMLElement} */ (this.button.firstElementChild);
    bars.dataset.quality = quality ?? 'unknown';
    this.button.title = quality ? `Your connection: ${quality}` : 'Your connection';
    if (quality) this.qualityText.textContent = `Your connection is ${quality}.`;
  }

  /** @param {NetworkStats} s */
  show(s) {
    const set = (/** @type {string} */ key, /** @type {string} */ text) => {
      const cell = this.cells.get(key);
      if (cell) cell.textContent = text;
    };
    set('rtt', value(s.rtt_ms, 'ms'));
    set('loss_up', value(s.loss_up, '%'));
    set('loss_down', value(s.loss_down, '%'));
    set('jitter', value(s.jitter_ms, 'ms'));
    set('up', value(s.up_kbps, 'kbit/s'));
    set('down', value(s.down_kbps, 'kbit/s'));
    set('estimate', value(s.estimate_kbps, 'kbit/s'));
    set('transport', s.tcp ? 'TCP' : 'UDP');
  }
}
