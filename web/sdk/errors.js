// The error type the library rejects and emits with.

/** An error carrying a stable `code`: a protocol error code or one of the library's own. */
export class MoimError extends Error {
  /**
   * @param {string} code e.g. `invalid_token` from the server, or `connection_closed`
   * @param {string} message a sentence for humans
   */
  constructor(code, message) {
    super(message);
    this.name = 'MoimError';
    /** @readonly */
    this.code = code;
  }
}
