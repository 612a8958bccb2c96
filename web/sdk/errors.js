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

/**
 * The error as a {@link MoimError} (code `client_error` for any other).
 * @param {unknown} err
 * @returns {MoimError}
 */
export function asMoimError(err) {
  if (err instanceof MoimError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new MoimError('client_error', message);
}
