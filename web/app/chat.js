// The meeting's chat panel: the room's messages (with the history a late joiner receives),
// a box to write to everyone or to one person, polls (hosts ask and close them, everyone
// votes once, counts update live), and for hosts the transcript download.

import { h, saveFile } from './dom.js';

/** @typedef {import('/sdk/moim.js').Room} Room */
/** @typedef {import('/sdk/protocol.js').ChatMessage} ChatMessage */
/** @typedef {import('/sdk/protocol.js').PollInfo} PollInfo */

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
    this.host = false;
    this.listEl = h('ol', { class: 'chat-list', id: 'chat-messages', 'aria-live': 'polite' });
    this.toEl = h('select', { class: 'chat-to', id: 'chat-to', 'aria-label': 'Send to' },
      h('option', { value: '' }, 'Everyone'));
    this.inputEl = h('input', {
      class: 'chat-input', id: 'chat-input', type: 'text', maxlength: 4000,
      placeholder: 'Message everyone', 'aria-label': 'Message', autocomplete: 'off',
    });
    this.toEl.addEventListener('change', () => this.syncRecipient());
    this.directEl = h('p', { class: 'chat-direct', id: 'chat-direct', hidden: true });
    const form = h('form', { class: 'chat-form', onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); this.send(); } },
      this.toEl, this.directEl, this.inputEl, h('button', { class: 'btn', type: 'submit', id: 'chat-send' }, 'Send'));
    this.formEl = form;
    this.questionEl = h('input', { id: 'poll-question', type: 'text', maxlength: 500, placeholder: 'Question', 'aria-label': 'Poll question' });
    this.answersEl = h('textarea', { id: 'poll-options', rows: 3, placeholder: 'One answer per line', 'aria-label': 'Poll answers' });
    this.pollForm = h('form', { class: 'poll-form', hidden: true, onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); this.askPoll(); } },
      this.questionEl, this.answersEl, h('button', { class: 'btn', type: 'submit', id: 'poll-ask' }, 'Ask'));
    /** Poll cards by poll id. @type {Map<number, HTMLLIElement>} */
    this.pollCards = new Map();
    this.downloadsEl = h('div', { class: 'chat-downloads', hidden: true },
      h('button', { class: 'link', type: 'button', id: 'poll-new', onclick: () => { this.pollForm.hidden = !this.pollForm.hidden; } }, 'New poll'),
      h('button', { class: 'link', type: 'button', id: 'chat-download-txt', onclick: () => this.download('txt') }, 'Download chat (.txt)'),
      h('button', { class: 'link', type: 'button', id: 'chat-download-json', onclick: () => this.download('json') }, 'JSON'));
    this.el = h('aside', { class: 'panel chat', id: 'chat-panel', hidden: true, 'aria-label': 'Chat' },
      h('h2', {}, 'Chat'), this.listEl, form, this.downloadsEl, this.pollForm);
    for (const message of options.room.chat.history) this.render(message);
    options.room.chat.on('message', (message) => this.onMessage(message));
    options.room.polls.on('poll', (poll) => this.renderPoll(poll));
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

  /** Hosts may download the transcript and ask polls. @param {boolean} host */
  setHost(host) {
    this.host = host;
    this.downloadsEl.hidden = !host;
  }

  async askPoll() {
    const question = this.questionEl.value.trim();
    const answers = this.answersEl.value.split('\n').map((a) => a.trim()).filter(Boolean);
    try {
      await this.options.room.polls.create(question, answers);
      this.questionEl.value = '';
      this.answersEl.value = '';
      this.pollForm.hidden = true;
    } catch (err) {
      this.options.onError(err instanceof Error ? err.message : String(err));
    }
  }

  /** Shows a poll's current state, in place if it is already shown. @param {PollInfo} poll */
  renderPoll(poll) {
    const room = this.options.room;
    const mine = room.polls.myVote(poll.id);
    const total = poll.options.reduce((n, o) => n + o.votes, 0);
    const answers = poll.options.map((option, i) => {
      const share = total ? Math.round((option.votes / total) * 100) : 0;
      return h('li', {},
        h('button', {
          class: `poll-option${mine === i ? ' chosen' : ''}`, type: 'button', 'data-option': i,
          disabled: poll.closed || mine !== undefined,
          onclick: () => room.polls.vote(poll.id, i).catch((err) => this.options.onError(err.message)),
        },
        h('span', { class: 'poll-bar', style: `width: ${share}%` }),
        h('span', { class: 'poll-text' }, option.text),
        h('span', { class: 'poll-votes' }, String(option.votes))));
    });
    const card = h('li', { class: 'chat-poll', 'data-poll-id': poll.id },
      h('div', { class: 'chat-meta' },
        h('span', { class: 'chat-from' }, `Poll by ${poll.from.name}`),
        poll.closed ? h('span', { class: 'badge' }, 'Closed') : null),
      h('div', { class: 'chat-text' }, poll.question),
      h('ol', { class: 'poll-options' }, ...answers),
      this.host && !poll.closed
        ? h('button', { class: 'link poll-close', type: 'button', onclick: () => room.polls.close(poll.id).catch((err) => this.options.onError(err.message)) }, 'Close poll')
        : null);
    const old = this.pollCards.get(poll.id);
    if (old) {
      old.replaceWith(card);
    } else {
      this.listEl.append(card);
      if (this.el.hidden) {
        this.unread += 1;
        this.options.onUnread(this.unread);
      }
    }
    this.pollCards.set(poll.id, card);
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
    this.syncRecipient();
  }

  /**
   * Makes a direct recipient impossible to miss: the form is marked, a line says who alone
   * reads the next message and offers the way back to everyone.
   */
  syncRecipient() {
    const direct = this.toEl.value !== '';
    const name = this.toEl.selectedOptions[0]?.textContent ?? '';
    this.formEl.classList.toggle('direct', direct);
    this.inputEl.placeholder = direct ? `Message ${name} only` : 'Message everyone';
    this.directEl.hidden = !direct;
    this.directEl.replaceChildren(
      `Only ${name} sees what you send. `,
      h('button', { class: 'link', type: 'button', id: 'chat-to-everyone', onclick: () => {
        this.toEl.value = '';
        this.syncRecipient();
        this.inputEl.focus();
      } }, 'Send to everyone'),
    );
  }

  async send() {
    const text = this.inputEl.value.trim();
    if (!text) return;
    const to = this.toEl.value ? [this.toEl.value] : [];
    try {
      await this.options.room.chat.send(text, { to });
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
    saveFile(await res.blob(), `${room}-chat.${format}`);
  }
}
