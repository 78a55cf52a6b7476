/** startControlPlane() was given options it cannot use, or could not bind its port. */
export class ControlPlaneError extends Error {
  readonly code = 'CONTROL_PLANE';
  override readonly name = 'ControlPlaneError';
}

/** A request the control plane turns away; the server answers it with `status` and a JSON body. */
export class ControlRequestError extends Error {
  override readonly name = 'ControlRequestError';
  constructor(
    readonly status: number,
    message: string,
    readonly parameter?: string,
  ) {
    super(message);
  }
}
