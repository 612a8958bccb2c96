// The room's polls: hosts ask and close them, everyone votes once; the server announces
// every change with the poll's whole state.

import { Emitter } from './events.js';

/** @typedef {import('./protocol.js').PollInfo} PollInfo */
/** @typedef {import('./signal.js').SignalClient} SignalClient */

/**
 * @typedef {object} PollEvents
 * @property {[PollInfo]} poll a poll was asked, voted in or closed (its current state)
 */

/** @extends {Emitter<PollEvents>} */
export class Polls extends Emitter {
  /** @type {Map<number, PollInfo>} */
  #polls = new Map();
  /** Your vote (answer index) in each poll you voted in. @type {Map<number, number>} */
  #votes = new Map();
  #signal;

  /** @param {SignalClient} signal */
  constructor(signal) {
    super();
    this.#signal = signal;
  }

  /** The room's polls, oldest first. */
  get all() {
    return [...this.#polls.values()].sort((a, b) => a.id - b.id);
  }

  /**
   * The answer you voted for in a poll, if you did (in this session).
   * @param {number} pollId
   */
  myVote(pollId) {
    return this.#votes.get(pollId);
  }

  /**
   * Asks the room a question (hosts only). Resolves with the new poll.
   * @param {string} question
   * @param {string[]} options 2 to 10 answers
   */
  async create(question, options) {
    const reply = await this.#signal.request({ type: 'poll_create', question, options }, 'poll');
    this.update(reply.poll);
    return reply.poll;
  }

  /**
   * Votes for answer `option` (its index); once per poll. Rejects with `conflict` for a
   * second vote or a closed poll.
   * @param {number} pollId
   * @param {number} option
   */
  async vote(pollId, option) {
    const reply = await this.#signal.request({ type: 'poll_vote', poll: pollId, option }, 'poll');
    this.#votes.set(pollId, option);
    this.update(reply.poll);
    return reply.poll;
  }

  /**
   * Ends a poll (hosts only).
   * @param {number} pollId
   */
  async close(pollId) {
    const reply = await this.#signal.request({ type: 'poll_close', poll: pollId }, 'poll');
    this.update(reply.poll);
    return reply.poll;
  }

  /**
   * Takes a poll's current state from the server.
   * @param {PollInfo} poll
   */
  update(poll) {
    this.#polls.set(poll.id, poll);
    this.emit('poll', poll);
  }
}
