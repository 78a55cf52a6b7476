/** Stable codes for the failures a test author can see from the update server. */
export type UpdateServerErrorCode =
  | 'UPDATE_SERVER_WAIT_TIMEOUT'
  | 'UPDATE_SERVER_STOPPED'
  | 'UPDATE_SERVER_BAD_SCRIPT'
  | 'UPDATE_SERVER_LISTEN_FAILED'
  | 'TEST_CERTIFICATE_FAILED';

export class UpdateServerError extends Error {
  override readonly name = 'UpdateServerError';
  constructor(
    readonly code: UpdateServerErrorCode,
    message: string,
  ) {
    super(message);
  }
}
