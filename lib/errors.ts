// The one error type every part of the package throws. Node-RED copies `code` onto
// msg.error.code for Catch nodes; the message is always free of the access key.

export type JetstreamErrorCode =
  | 'JETSTREAM_INVALID_INPUT'
  | 'JETSTREAM_UNAUTHORIZED'
  | 'JETSTREAM_NOT_FOUND'
  | 'JETSTREAM_BAD_REQUEST'
  | 'JETSTREAM_RATE_LIMITED'
  | 'JETSTREAM_SERVER_ERROR'
  | 'JETSTREAM_NETWORK'
  | 'JETSTREAM_COMMAND_FAILED'
  | 'JETSTREAM_COMPLETION_TIMEOUT';

export interface JetstreamErrorInit {
  statusCode?: number;
  device?: string;
  /** Server-requested wait before the next try, when it sent Retry-After. */
  retryAfterMs?: number;
  /** The request was cancelled by its caller (close, redeploy); not a fault to report. */
  aborted?: boolean;
}

export class JetstreamError extends Error {
  readonly code: JetstreamErrorCode;
  readonly statusCode?: number;
  readonly device?: string;
  readonly retryAfterMs?: number;
  readonly aborted: boolean;

  constructor(code: JetstreamErrorCode, message: string, init: JetstreamErrorInit = {}) {
    super(message);
    this.name = 'JetstreamError';
    this.code = code;
    this.statusCode = init.statusCode;
    this.device = init.device;
    this.retryAfterMs = init.retryAfterMs;
    this.aborted = init.aborted ?? false;
  }

  /**
   * Node-RED puts this text in msg.error.message. Leading with the code keeps it visible to
   * Catch nodes on Node-RED 3.x, which does not copy err.code to msg.error.code.
   */
  override toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

export function invalidInput(message: string, device?: string): JetstreamError {
  return new JetstreamError('JETSTREAM_INVALID_INPUT', message, { device });
}

/** The error code for an HTTP status that is not a success. */
export function codeForStatus(status: number): JetstreamErrorCode {
  if (status === 401 || status === 403) return 'JETSTREAM_UNAUTHORIZED';
  if (status === 404) return 'JETSTREAM_NOT_FOUND';
  if (status === 429) return 'JETSTREAM_RATE_LIMITED';
  if (status >= 500) return 'JETSTREAM_SERVER_ERROR';
  return 'JETSTREAM_BAD_REQUEST';
}

export function isJetstreamError(err: unknown): err is JetstreamError {
  return err instanceof JetstreamError;
}
