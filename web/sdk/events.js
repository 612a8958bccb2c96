// A small typed event emitter. `E` maps each event name to the tuple of its arguments.

/**
 * @template {{ [name: string]: unknown[] }} E
 */
export class Emitter {
  /** @type {Map<keyof E, Set<(...args: any[]) => void>>} */
  #listeners = new Map();

  /**
   * Calls `listener` every time `name` is emitted. Returns a function that removes it.
   * @template {keyof E} K
   * @param {K} name
   * @param {(...args: E[K]) => void} listener
   * @returns {() => void}
   */
  on(name, listener) {
    let set = this.#listeners.get(name);
    if (!set) {
      set = new Set();
      this.#listeners.set(name, set);
    }
    set.add(listener);
    return () => this.off(name, listener);
  }

  /**
   * @template {keyof E} K
   * @param {K} name
   * @param {(...args: E[K]) => void} listener
   */
  off(name, listener) {
    this.#listeners.get(name)?.delete(listener);
  }

  /**
   * Calls `listener` the next time `name` is emitted, then forgets it.
   * @template {keyof E} K
   * @param {K} name
   * @param {(...args: E[K]) => void} listener
   * @returns {() => void}
   */
  once(name, listener) {
    /** @param {E[K]} args */
    const wrapper = (...args) => {
      this.off(name, wrapper);
      listener(...args);
    };
    return this.on(name, wrapper);
  }

  /**
   * Calls every listener of `name`. A listener that throws does not stop the others.
   * @template {keyof E} K
   * @param {K} name
   * @param {E[K]} args
   */
  emit(name, ...args) {
    const set = this.#listeners.get(name);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
