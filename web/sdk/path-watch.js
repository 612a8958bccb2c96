// Notices a broken media path sooner than the browser does. A connection that sends media
// hears from the server all the time (receiver reports and transport feedback for what it
// sends, several times a second); when it goes on sending but hears nothing for
// `SILENT_MS`, its path is gone (the network changed under it). Chromium waits about six
// seconds before it calls such a connection `disconnected`. A connection that stops
// sending (its tracks were unpublished, or nobody receives them) is not expected to hear
// anything.

const CHECK_EVERY_MS = 250;
/** Heard from in this many checks in a row: it is expected to keep talking. */
const STEADY_CHECKS = 4;
/** A steady connection silent this long has lost its path. */
const SILENT_MS = 1_000;

export class PathWatch {
  /** @type {ReturnType<typeof setInterval> | undefined} */
  #timer;
  /** @type {RTCPeerConnection | null} */
  #pc = null;
  #bytes = -1;
  #heardInARow = 0;
  #heardAt = 0;
  #checking = false;
  #connection;
  #onBroken;

  /**
   * @param {() => RTCPeerConnection | null} connection the connection to watch (the
   *   publisher's, while it sends something)
   * @param {() => void} onBroken called once when a steady connection falls silent
   */
  constructor(connection, onBroken) {
    this.#connection = connection;
    this.#onBroken = onBroken;
  }

  start() {
    this.stop();
    this.#timer = setInterval(() => this.#check(), CHECK_EVERY_MS);
  }

  stop() {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#forget(null);
  }

  /** @param {RTCPeerConnection | null} pc the connection watched from now on */
  #forget(pc) {
    this.#pc = pc;
    this.#bytes = -1;
    this.#heardInARow = 0;
  }

  async #check() {
    const pc = this.#connection();
    if (!pc || this.#checking) return;
    // A new connection, or one that sends nothing now (its tracks were unpublished, or
    // nobody receives them): nothing to expect yet.
    if (pc !== this.#pc || !sends(pc)) {
      this.#forget(pc);
      return;
    }
    this.#checking = true;
    let bytes = 0;
    try {
      const stats = await pc.getStats();
      stats.forEach((/** @type {any} */ s) => {
        if (s.type === 'transport') bytes += s.bytesReceived ?? 0;
      });
    } catch {
      return;
    } finally {
      this.#checking = false;
    }
    const now = Date.now();
    if (bytes !== this.#bytes) {
      this.#bytes = bytes;
      this.#heardAt = now;
      this.#heardInARow += 1;
      return;
    }
    if (this.#heardInARow < STEADY_CHECKS) {
      this.#heardInARow = 0;
    } else if (now - this.#heardAt >= SILENT_MS) {
      this.#heardInARow = 0;
      this.#onBroken();
    }
  }
}

/**
 * Whether the connection sends a track now: a muted one still sends, one whose layers the
 * server paused (nobody receives it) does not.
 * @param {RTCPeerConnection} pc
 */
function sends(pc) {
  return pc.getTransceivers().some(
    (t) =>
      t.sender.track?.readyState === 'live' &&
      (t.currentDirection === 'sendonly' || t.currentDirection === 'sendrecv') &&
      t.sender.getParameters().encodings.some((e) => e.active !== false),
  );
}
