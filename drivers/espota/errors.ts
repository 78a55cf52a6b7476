export type EspotaErrorCode =
  /** The TCP listener the device connects back to could not be bound (a rig problem). */
  | 'ESPOTA_LISTEN_FAILED'
  /** No UDP answer to the invitation or to the authentication within its timeout (espota: `No Answer`). */
  | 'ESPOTA_NO_REPLY'
  /** The device asked for a password and none was configured. */
  | 'ESPOTA_AUTH_REQUIRED'
  /** The device answered the challenge response with `Authentication Failed`. */
  | 'ESPOTA_AUTH_FAILED'
  /** The challenge's nonce length does not fit the scheme asked for (32 → MD5, 64 → PBKDF2). */
  | 'ESPOTA_AUTH_SCHEME'
  /** The device answered something other than `OK` / `AUTH …` (espota: `Bad Answer: …`, e.g. `ERR: ERROR[4]: …`). */
  | 'ESPOTA_BAD_ANSWER'
  /** The device said OK but never connected back (espota: `No response from device`). */
  | 'ESPOTA_NO_CONNECT_BACK'
  /** No count came back for a chunk within the ack timeout (espota: `Error Uploading`). */
  | 'ESPOTA_ACK_TIMEOUT'
  /** The device closed the data connection before a result, without a word. */
  | 'ESPOTA_DEVICE_CLOSED'
  /** No final result within the result timeout (espota: `No Result!`). */
  | 'ESPOTA_RESULT';

/** What the data phase had reached when it failed: for tests that judge a device's timeout. */
export interface EspotaProgressSnapshot {
  bytesSent: number;
  /** Sum of the counts the device acknowledged. */
  bytesAcked: number;
  /** The counts as parsed, in order (re-sent counts appear again). */
  acks: number[];
  /** Non-count text the device wrote on the data connection, if any. */
  deviceText: string;
  /** Milliseconds from the first data byte to the failure. */
  elapsedMs: number;
}

/**
 * One espota step against one target failed. The message names the target, its address and the
 * step, and has been through the uploader's redaction (the password never appears in it).
 */
export class EspotaError extends Error {
  override readonly name = 'EspotaError';
  constructor(
    readonly code: EspotaErrorCode,
    message: string,
    readonly targetName: string,
    readonly step: string,
    readonly progress?: EspotaProgressSnapshot,
  ) {
    super(message);
  }
}
