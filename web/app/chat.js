// The meeting's chat panel: the room's messages (with the history a late joiner receives),
// a box to write to everyone or to one person, and for hosts the transcript download.

import { h } from './dom.js';

/** @typedef {import('/sdk/moim.js').Room} Room */
/** @typedef {import('/sdk/protocol.js').ChatMessage} ChatMessage */

/**
 * @typedef {object} ChatPanelOptions
 * @property {Room} room
 * @property {string} token the access token, to fetch the transcript with
 * @property {(message: string) => void} onError shows a refusal to the user
 * @property {(unread: number) => void} onUnread messages arrived while the panel was hidden
 */

export class ChatPanel {
  /** @param {ChatPanelOptions} options */
  constructor(options) {
    this.options = options;
    this.unread = 0;
    this.listEl = h('ol', { class: 'chat-list', id: 'chat-messages', 'aria-live': 'polite' });
    this.toEl = h('select', { class: 'chat-to', id: 'chat-to', 'aria-label': 'Send to' },
      h('option', { value: '' }, 'Everyone'));
    this.inputEl = h('input', {
      class: 'chat-input', id: 'chat-input', type: 'text', maxlength: 4000,
      placeholder: 'Message', 'aria-label': 'Message', autocomplete: 'off',
    });
    const form = h('form', { class: 'chat-form', onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); this.send(); } },
      this.toEl, this.inputEl, h('button', { class: 'btn', type: 'submit', id: 'chat-send' }, 'Send'));
    this.downloadsEl = h('div', { class: 'chat-downloads', hidden: true },
      h('button', { class: 'link', type: 'button', id: 'chat-download-txt', onclick: () => this.download('txt') }, 'Download chat (.txt)'),
      h('button', { class: 'link', type: 'button', id: 'chat-download-json', onclick: () => this.download('json') }, 'JSON'));
    this.el = h('aside', { class: 'panel chat', id: 'chat-panel', hidden: true, 'aria-label': 'Chat' },
      h('h2', {}, 'Chat'), this.listEl, form, this.downloadsEl);
    for (const message of options.room.chatHistory) this.render(message);
    options.room.on('chat', (message) => this.onMessage(message));
  }

  /** Shows or hides the panel; showing it clears the unread count. */
  toggle() {
    this.el.hidden = !this.el.hidden;
    if (!this.el.hidden) {
      this.unread = 0;
      this.options.onUnread(0);
      this.inputEl.focus();
      this.listEl.lastElementChild?.scrollIntoView({ block: 'end' });
    }
    return !this.el.hidden;
  }

  /** Hosts may download the transcript. @param {boolean} host */
  setHost(host) {
    this.downloadsEl.hidden = !host;
  }

  /**
   * The people one can write to directly.
   * @param {{ identity: string, name: string }[]} people
   */
  setPeople(people) {
    const chosen = this.toEl.value;
    this.toEl.replaceChildren(h('option', { value: '' }, 'Everyone'),
      ...people.map((p) => h('option', { value: p.identity }, p.name)));
    this.toEl.value = people.some((p) => p.identity === chosen) ? chosen : '';
  }

  async send() {
    const text = this.inputEl.value.trim();
    if (!text) return;
    const to = this.toEl.value ? [this.toEl.value] : [];
    try {
      await this.options.room.sendChat(text, { to });
      this.inputEl.value = '';
    } catch (err) {
      this.options.onError(err instanceof Error ? err.message : String(err));
    }
  }

  /** @param {ChatMessage} message */
  onMessage(message) {
    this.render(message);
    if (this.el.hidden && message.from.sid !== this.options.room.localParticipant.sid) {
      this.unread += 1;
      this.options.onUnread(this.unread);
    }
  }

  /** @param {ChatMessage} message */
  render(message) {
    const mine = message.from.sid === this.options.room.localParticipant.sid;
    const time = new Date(message.ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    const direct = message.to && message.to.length > 0;
    const item = h('li', { class: `chat-message${mine ? ' mine' : ''}${direct ? ' direct' : ''}`, 'data-id': message.id },
      h('div', { class: 'chat-meta' },
        h('span', { class: 'chat-from' }, mine ? 'You' : message.from.name),
        direct ? h('span', { class: 'badge' }, 'Direct') : null,
        h('time', { datetime: new Date(message.ts).toISOString() }, time)),
      h('div', { class: 'chat-text' }, message.text));
    this.listEl.append(item);
    if (!this.el.hidden) item.scrollIntoView({ block: 'end' });
  }

  /** Saves the room's transcript through the API. @param {'txt' | 'json'} format */
  async download(format) {
    const room = this.options.room.name;
    const res = await fetch(`/api/rooms/${encodeURIComponent(room)}/transcript?format=${format}`, {
      headers: { Authorization: `Bearer ${this.options.token}` },
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({ message: res.statusText }));
      this.options.onError(`Could not download the chat: ${body.message}`);
      return;
    }
    const url = URL.createObjectURL(await res.blob());
    const a = h('a', { href: url, download: `${room}-chat.${format}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}
