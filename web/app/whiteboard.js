// The whiteboard panel: a canvas showing the room's board, the pen (colours, widths),
// the eraser and the pointer, undo, clear for hosts, and PNG/SVG downloads. It draws
// whatever the client library's `Whiteboard` says the board is.

import { BOARD_BACKGROUND, BOARD_HEIGHT, BOARD_WIDTH } from '/sdk/moim.js';
import { h, saveFile } from './dom.js';

/** @typedef {import('/sdk/moim.js').Room} Room */
/** @typedef {import('/sdk/whiteboard.js').Pen} Pen */
/** @typedef {import('/sdk/whiteboard.js').DrawnStroke} DrawnStroke */

const COLORS = ['#212121', '#e53935', '#1e88e5', '#43a047', '#fb8c00', '#8e24aa'];
const WIDTHS = [2, 4, 8, 16];

/**
 * @typedef {object} WhiteboardOptions
 * @property {Room} room
 * @property {(sid: string) => string} nameOf a participant's display name
 */

export class WhiteboardPanel {
  /** @param {WhiteboardOptions} options */
  constructor(options) {
    this.options = options;
    const board = options.room.whiteboard;
    /** @type {'pen' | 'eraser' | 'pointer'} */
    this.tool = 'pen';
    this.color = COLORS[0];
    this.width = WIDTHS[1];
    /** The stroke being drawn with the pointer down. @type {number | null} */
    this.stroke = null;
    this.frame = 0;

    this.canvas = h('canvas', { class: 'board-canvas', width: BOARD_WIDTH, height: BOARD_HEIGHT, 'aria-label': 'Whiteboard' });
    this.ctx = /** @type {CanvasRenderingContext2D} */ (this.canvas.getContext('2d'));
    this.pointersEl = h('div', { class: 'board-pointers' });
    /** Other people's pointers by participant sid. @type {Map<string, HTMLElement>} */
    this.pointers = new Map();
    this.toolButtons = {
      pen: this.toolButton('pen', 'Pen'),
      eraser: this.toolButton('eraser', 'Eraser'),
      pointer: this.toolButton('pointer', 'Pointer'),
    };
    this.swatches = COLORS.map((color) => h('button', {
      class: 'swatch', type: 'button', style: `background:${color}`, 'aria-label': `Colour ${color}`,
      'data-color': color, onclick: () => this.setColor(color),
    }));
    const widthSelect = h('select', { 'aria-label': 'Pen width', onchange: () => { this.width = Number(widthSelect.value); } },
      ...WIDTHS.map((w) => h('option', { value: w, selected: w === this.width }, `${w} px`)));
    this.clearButton = h('button', { class: 'button', type: 'button', id: 'board-clear', hidden: true,
      onclick: () => { if (confirm('Clear the board for everyone?')) board.clear(); } }, 'Clear');
    /** @type {HTMLElement} */
    this.frameEl = h('div');
    /** @type {HTMLElement} */
    this.surfaceEl = h('div');
    this.el = h('section', { class: 'board', id: 'whiteboard', hidden: true, 'aria-label': 'Whiteboard' },
      h('div', { class: 'board-tools' },
        this.toolButtons.pen, ...this.swatches, widthSelect, this.toolButtons.eraser, this.toolButtons.pointer,
        h('button', { class: 'button', type: 'button', id: 'board-undo', onclick: () => board.undo() }, 'Undo'),
        this.clearButton,
        h('span', { class: 'spacer' }),
        h('button', { class: 'button', type: 'button', id: 'board-png', onclick: () => this.savePng() }, 'PNG'),
        h('button', { class: 'button', type: 'button', id: 'board-svg', onclick: () => this.saveSvg() }, 'SVG')),
      this.surfaceEl = h('div', { class: 'board-surface' }, this.frameEl = h('div', { class: 'board-frame' }, this.canvas, this.pointersEl)));
    // The board keeps 16:9 inside whatever room the panel has.
    new ResizeObserver(() => this.fit()).observe(this.surfaceEl);

    this.canvas.addEventListener('pointerdown', (ev) => this.onDown(ev));
    this.canvas.addEventListener('pointermove', (ev) => this.onMove(ev));
    this.canvas.addEventListener('pointerup', () => this.onUp());
    this.canvas.addEventListener('pointercancel', () => this.onUp());
    this.canvas.addEventListener('pointerleave', () => { if (this.tool === 'pointer') board.hidePointer(); });
    board.on('change', () => this.schedule());
    board.on('pointer', (p) => this.showPointer(p.participant, p.x, p.y));
    this.setTool('pen');
    this.setColor(this.color);
    this.render();
  }

  /** Sizes the board to the largest 16:9 rectangle that fits the panel. */
  fit() {
    const { clientWidth: w, clientHeight: h } = this.surfaceEl;
    const width = Math.min(w, (h * BOARD_WIDTH) / BOARD_HEIGHT);
    this.frameEl.style.width = `${Math.floor(width)}px`;
    this.frameEl.style.height = `${Math.floor((width * BOARD_HEIGHT) / BOARD_WIDTH)}px`;
  }

  /** @param {boolean} host */
  setHost(host) {
    this.clearButton.hidden = !host;
  }

  /** Shows or hides the panel; returns whether it is shown. */
  toggle() {
    this.el.hidden = !this.el.hidden;
    if (this.el.hidden) this.options.room.whiteboard.hidePointer();
    return !this.el.hidden;
  }

  /**
   * @param {'pen' | 'eraser' | 'pointer'} tool
   * @param {string} label
   */
  toolButton(tool, label) {
    return h('button', { class: 'button tool', type: 'button', 'data-tool': tool, onclick: () => this.setTool(tool) }, label);
  }

  /** @param {'pen' | 'eraser' | 'pointer'} tool */
  setTool(tool) {
    if (this.tool === 'pointer' && tool !== 'pointer') this.options.room.whiteboard.hidePointer();
    this.tool = tool;
    for (const [name, button] of Object.entries(this.toolButtons)) button.setAttribute('aria-pressed', String(name === tool));
    this.canvas.dataset.tool = tool;
  }

  /** @param {string} color */
  setColor(color) {
    this.color = color;
    for (const s of this.swatches) s.setAttribute('aria-pressed', String(s.dataset.color === color));
    if (this.tool !== 'pen') this.setTool('pen');
  }

  /** Board coordinates of a pointer event. @param {PointerEvent} ev */
  at(ev) {
    const rect = this.canvas.getBoundingClientRect();
    return {
      x: ((ev.clientX - rect.left) / rect.width) * BOARD_WIDTH,
      y: ((ev.clientY - rect.top) / rect.height) * BOARD_HEIGHT,
    };
  }

  /** @param {PointerEvent} ev */
  onDown(ev) {
    if (this.tool === 'pointer' || ev.button !== 0) return;
    this.canvas.setPointerCapture(ev.pointerId);
    const { x, y } = this.at(ev);
    /** @type {Pen} */
    const pen = { tool: this.tool, color: this.color, width: this.tool === 'eraser' ? this.width * 4 : this.width };
    this.stroke = this.options.room.whiteboard.begin(pen, x, y);
  }

  /** @param {PointerEvent} ev */
  onMove(ev) {
    const { x, y } = this.at(ev);
    if (this.tool === 'pointer') this.options.room.whiteboard.point(x, y);
    else if (this.stroke !== null) this.options.room.whiteboard.extend(this.stroke, x, y);
  }

  onUp() {
    if (this.stroke === null) return;
    this.options.room.whiteboard.end(this.stroke);
    this.stroke = null;
  }

  /** Redraws on the next animation frame (many changes in one frame draw once). */
  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  render() {
    drawBoard(this.ctx, this.options.room.whiteboard.view());
  }

  /**
   * @param {string} sid
   * @param {number | null} x
   * @param {number | null} y
   */
  showPointer(sid, x, y) {
    let el = this.pointers.get(sid);
    if (x === null || y === null) {
      el?.remove();
      this.pointers.delete(sid);
      return;
    }
    if (!el) {
      el = h('div', { class: 'board-pointer', 'data-participant-sid': sid }, h('span', {}, this.options.nameOf(sid)));
      this.pointers.set(sid, el);
      this.pointersEl.append(el);
    }
    el.style.left = `${(x / BOARD_WIDTH) * 100}%`;
    el.style.top = `${(y / BOARD_HEIGHT) * 100}%`;
  }

  savePng() {
    const canvas = h('canvas', { width: BOARD_WIDTH, height: BOARD_HEIGHT });
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    drawBoard(ctx, this.options.room.whiteboard.strokes);
    canvas.toBlob((blob) => { if (blob) saveFile(blob, `${this.options.room.name}-board.png`); }, 'image/png');
  }

  saveSvg() {
    const svg = this.options.room.whiteboard.toSVG();
    saveFile(new Blob([svg], { type: 'image/svg+xml' }), `${this.options.room.name}-board.svg`);
  }
}

/**
 * Paints strokes on a board-sized canvas, bottom first.
 * @param {CanvasRenderingContext2D} ctx
 * @param {DrawnStroke[]} strokes
 */
function drawBoard(ctx, strokes) {
  ctx.fillStyle = BOARD_BACKGROUND;
  ctx.fillRect(0, 0, BOARD_WIDTH, BOARD_HEIGHT);
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  for (const s of strokes) {
    if (s.points.length < 2) continue;
    ctx.strokeStyle = s.tool === 'eraser' ? BOARD_BACKGROUND : s.color;
    ctx.lineWidth = s.width;
    ctx.beginPath();
    ctx.moveTo(s.points[0], s.points[1]);
    for (let i = 2; i < s.points.length; i += 2) ctx.lineTo(s.points[i], s.points[i + 1]);
    if (s.points.length === 2) ctx.lineTo(s.points[0], s.points[1]);
    ctx.stroke();
  }
}
