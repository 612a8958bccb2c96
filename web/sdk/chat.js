// The room's chat as one client sees it: the messages seen so far (with the history that
// `joined` brings), and sending to everyone or as a direct message.

import { Emitter } from './events.js';

/** @typedef {import('./protocol.js').ChatMessage} ChatMessage */
/** @typedef {import('./signal.js').SignalClient} SignalClient */

/**
 * @typedef {object} ChatEvents
 * @property {[ChatMessage]} message a chat message, including your own once the server took it
 */

/** Chat messages kept in `history`. */
const HISTORY_LIMIT = 500;

/** @extends {Emitter<ChatEvents>} */
export class Chat extends Emitter {
  /** @type {ChatMessage[]} */
  #messages = [];
  #signal;
  #channel;

  /**
   * @param {SignalClient} signal
   * @param {() => ((text: string) => void) | null} channel how to send on the reliable data
   *   channel, or null to use signaling
   */
  constructor(signal, channel) {
    super();
    this.#signal = signal;
    this.#channel = channel;
  }

  /** The messages seen so far, oldest first. */
  get history() {
    return [...this.#messages];
  }

  /**
   * Sends a message to the room, or as a direct message to the identities in `to`.
   * Resolves with the message as the server delivered it (also emitted as `message`);
   * rejects with a `MoimError` (`rate_limited`, `message_too_large`, `not_found`, …).
   * @param {string} text
   * @param {{ to?: string[] }} [options]
   * @returns {Promise<ChatMessage>}
   */
  async send(text, options = {}) {
    const reply = await this.#signal.request({ type: 'chat', text, to: options.to ?? [] }, 'chat', this.#channel());
    this.add(reply.message);
    return reply.message;
  }

  /**
   * Keeps a message once (a rejoin brings the history again) and reports it.
   * @param {ChatMessage} message
   */
  add(message) {
    if (this.#messages.some((m) => m.id === message.id)) return;
    this.#messages.push(message);
    this.#messages.sort((a, b) => a.id - b.id);
    if (this.#messages.length > HISTORY_LIMIT) this.#messages.shift();
    this.emit('message', message);
  }
}
