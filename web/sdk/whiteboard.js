// The meeting's shared whiteboard as one client sees it. Your strokes go out in small
// segments while you draw, so others see them appear; the server orders every operation
// and sends it back to everyone, you included, and the board is drawn from that order, so
// every participant's board ends up the same. Until the server's copy of your stroke
// arrives, `view()` shows your own points as drawn.

import { Emitter } from './events.js';

/** @typedef {import('./protocol.js').BoardStroke} BoardStroke */
/** @typedef {import('./protocol.js').ServerMessage} ServerMessage */
/** @typedef {import('./signal.js').SignalClient} SignalClient */

/** Board coordinates run from 0 to these (16:9); scale them to your canvas. */
export const BOARD_WIDTH = 1600;
export const BOARD_HEIGHT = 900;
/** The board's colour; the eraser draws with it. */
export const BOARD_BACKGROUND = '#ffffff';

/** How often a stroke being drawn sends its new points. */
const FLUSH_MS = 40;
/** How often the pointer position goes out at most. */
const POINTER_MS = 66;
/** Points per message (the server takes up to 1000). */
const SEGMENT_POINTS = 500;

/**
 * What a stroke is drawn with.
 * @typedef {object} Pen
 * @property {'pen' | 'eraser'} tool
 * @property {string} color `#rrggbb`
 * @property {number} width in board units (1 to 64)
 */

/**
 * A stroke to draw: a confirmed one, or one of yours in progress.
 * @typedef {Pick<BoardStroke, 'tool' | 'color' | 'width' | 'points'>} DrawnStroke
 */

/**
 * One of your strokes not yet confirmed in full.
 * @typedef {object} Drawing
 * @property {Pen} pen
 * @property {number[]} points everything drawn, `x0, y0, x1, y1, …`
 * @property {number} sent how many numbers of `points` went out
 * @property {boolean} done the pen was lifted
 * @property {boolean} doneSent the server was told so
 * @property {string} id the stroke's id on the board once its first points went out
 */

/**
 * @typedef {object} WhiteboardEvents
 * @property {[]} change the board changed: draw `view()` again
 * @property {[{ participant: string, x: number, y: number } | { participant: string, x: null, y: null }]} pointer
 *   where someone points (`x: null`: the pointer is gone)
 */

/** @extends {Emitter<WhiteboardEvents>} */
export class Whiteboard extends Emitter {
  #signal;
  #localSid;
  /** Confirmed strokes, bottom first. @type {BoardStroke[]} */
  #strokes = [];
  /** Your strokes by number. @type {Map<number, Drawing>} */
  #drawing = new Map();
  #nextStroke = 1;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #flushTimer;
  #pointerSentAt = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #pointerTimer;
  /** @type {{ x: number, y: number } | null} */
  #pointerAt = null;

  /**
   * @param {SignalClient} signal
   * @param {() => string} localSid your participant sid in the current session
   */
  constructor(signal, localSid) {
    super();
    this.#signal = signal;
    this.#localSid = localSid;
  }

  /** The board as the server ordered it, bottom first. */
  get strokes() {
    return this.#strokes.map((s) => ({ ...s, points: [...s.points] }));
  }

  /**
   * What to draw now: the confirmed strokes, with your own strokes as you drew them
   * (including points the server has not confirmed yet) in their place or on top.
   * @returns {DrawnStroke[]}
   */
  view() {
    /** @type {Map<string, Drawing>} */
    const mine = new Map();
    for (const d of this.#drawing.values()) if (d.id) mine.set(d.id, d);
    /** @type {DrawnStroke[]} */
    const out = this.#strokes.map((s) => {
      const d = mine.get(s.id);
      if (!d) return s;
      mine.delete(s.id);
      return { ...d.pen, points: d.points };
    });
    for (const d of this.#drawing.values()) {
      if (!d.id || mine.has(d.id)) out.push({ ...d.pen, points: d.points });
    }
    return out;
  }

  /**
   * Starts a stroke at (x, y); returns its number for {@link extend} and {@link end}.
   * @param {Pen} pen
   * @param {number} x
   * @param {number} y
   */
  begin(pen, x, y) {
    const stroke = this.#nextStroke++;
    this.#drawing.set(stroke, { pen: { ...pen }, points: [clampX(x), clampY(y)], sent: 0, done: false, doneSent: false, id: '' });
    this.#scheduleFlush();
    this.emit('change');
    return stroke;
  }

  /**
   * Adds a point to a stroke being drawn.
   * @param {number} stroke
   * @param {number} x
   * @param {number} y
   */
  extend(stroke, x, y) {
    const d = this.#drawing.get(stroke);
    if (!d || d.done) return;
    d.points.push(clampX(x), clampY(y));
    this.#scheduleFlush();
    this.emit('change');
  }

  /**
   * Lifts the pen: the stroke's last points go out at once.
   * @param {number} stroke
   */
  end(stroke) {
    const d = this.#drawing.get(stroke);
    if (!d || d.done) return;
    d.done = true;
    this.#flush();
  }

  /** Takes back your most recent stroke still on the board (`not_found` if none). */
  undo() {
    return this.#signal.send({ type: 'board_undo' });
  }

  /** Wipes the board for everyone (hosts only). */
  clear() {
    return this.#signal.send({ type: 'board_clear' });
  }

  /**
   * Shows others where you point (sent at most 15 times a second).
   * @param {number} x
   * @param {number} y
   */
  point(x, y) {
    this.#pointerAt = { x: clampX(x), y: clampY(y) };
    const wait = this.#pointerSentAt + POINTER_MS - performance.now();
    if (wait > 0) {
      this.#pointerTimer ??= setTimeout(() => this.#sendPointer(), wait);
      return;
    }
    this.#sendPointer();
  }

  /** Hides your pointer from others. */
  hidePointer() {
    clearTimeout(this.#pointerTimer);
    this.#pointerTimer = undefined;
    this.#pointerAt = null;
    this.#signal.send({ type: 'board_pointer' });
  }

  /** The board as an SVG document (only what the server confirmed, so it is the same everywhere). */
  toSVG() {
    const paths = this.#strokes.map((s) => {
      const color = s.tool === 'eraser' ? BOARD_BACKGROUND : s.color;
      return `<path d="${pathData(s.points)}" fill="none" stroke="${color}" stroke-width="${s.width}" stroke-linecap="round" stroke-linejoin="round"/>`;
    });
    return [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${BOARD_WIDTH}" height="${BOARD_HEIGHT}" viewBox="0 0 ${BOARD_WIDTH} ${BOARD_HEIGHT}">`,
      `<rect width="${BOARD_WIDTH}" height="${BOARD_HEIGHT}" fill="${BOARD_BACKGROUND}"/>`,
      ...paths,
      '</svg>',
      '',
    ].join('\n');
  }

  /**
   * Takes the whole board from `joined` (after a reconnection too: the server's board wins).
   * @param {BoardStroke[]} strokes
   */
  load(strokes) {
    this.#strokes = strokes.map((s) => ({ ...s, points: [...s.points] }));
    for (const [n, d] of this.#drawing) {
      // A stroke still being drawn carries on under the new session's id.
      if (d.done) this.#drawing.delete(n);
      else {
        d.points = d.points.slice(Math.max(0, d.sent - 2));
        d.sent = 0;
        d.id = '';
      }
    }
    this.#scheduleFlush();
    this.emit('change');
  }

  /**
   * Applies a board message from the server; false for other messages.
   * @param {ServerMessage} msg
   */
  handle(msg) {
    switch (msg.type) {
      case 'board_stroke':
        this.#applyStroke(msg.stroke);
        return true;
      case 'board_remove':
        this.#strokes = this.#strokes.filter((s) => s.id !== msg.id);
        this.emit('change');
        return true;
      case 'board_clear':
        this.#strokes = [];
        this.emit('change');
        return true;
      case 'board_pointer':
        this.emit('pointer', msg.x === undefined || msg.y === undefined
          ? { participant: msg.participant, x: null, y: null }
          : { participant: msg.participant, x: msg.x, y: msg.y });
        return true;
      default:
        return false;
    }
  }

  /**
   * A participant left: their pointer goes.
   * @param {string} participantSid
   */
  dropPointer(participantSid) {
    this.emit('pointer', { participant: participantSid, x: null, y: null });
  }

  /** @param {BoardStroke} segment */
  #applyStroke(segment) {
    // The stroke being drawn is nearly always among the last few.
    let known = this.#strokes.length - 1;
    while (known >= 0 && this.#strokes[known].id !== segment.id) known--;
    if (known >= 0) {
      const stroke = this.#strokes[known];
      stroke.points.push(...segment.points);
      stroke.done = segment.done;
    } else {
      this.#strokes.push({ ...segment, points: [...segment.points] });
    }
    if (segment.done) {
      for (const [n, d] of this.#drawing) if (d.id === segment.id) this.#drawing.delete(n);
    }
    this.emit('change');
  }

  #scheduleFlush() {
    this.#flushTimer ??= setTimeout(() => this.#flush(), FLUSH_MS);
  }

  /** Sends what each of your strokes has not sent yet. */
  #flush() {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const sid = this.#localSid();
    if (!sid) return;
    for (const [n, d] of this.#drawing) {
      while (d.sent < d.points.length || (d.done && !d.doneSent)) {
        const points = d.points.slice(d.sent, d.sent + 2 * SEGMENT_POINTS);
        const done = d.done && d.sent + points.length >= d.points.length;
        if (!this.#signal.send({ type: 'board_stroke', stroke: n, ...d.pen, points, done })) return;
        d.id = `${sid}.${n}`;
        d.sent += points.length;
        d.doneSent = done;
      }
    }
  }

  #sendPointer() {
    clearTimeout(this.#pointerTimer);
    this.#pointerTimer = undefined;
    if (!this.#pointerAt) return;
    this.#pointerSentAt = performance.now();
    this.#signal.send({ type: 'board_pointer', ...this.#pointerAt });
  }
}

/**
 * SVG path data through the points; a single point becomes a dot.
 * @param {number[]} points
 */
function pathData(points) {
  if (points.length < 2) return '';
  const parts = [`M${points[0]} ${points[1]}`];
  for (let i = 2; i < points.length; i += 2) parts.push(`L${points[i]} ${points[i + 1]}`);
  if (points.length === 2) parts.push(`L${points[0]} ${points[1]}`);
  return parts.join(' ');
}

/** @param {number} x */
function clampX(x) {
  return Math.min(BOARD_WIDTH, Math.max(0, Math.round(x)));
}

/** @param {number} y */
function clampY(y) {
  return Math.min(BOARD_HEIGHT, Math.max(0, Math.round(y)));
}
