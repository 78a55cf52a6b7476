export { AckReader } from './ack-reader.ts';
export {
  authDatagram,
  type CnonceInput,
  challengeResponse,
  clientNonce,
  type EspotaAuthScheme,
  md5Hex,
  type Pbkdf2PasswordHash,
  schemeOfNonce,
  sha256Hex,
} from './auth.ts';
export { EspotaError, type EspotaErrorCode, type EspotaProgressSnapshot } from './errors.ts';
export {
  type AuthenticateOptions,
  type ConnectBackListener,
  classifyReply,
  type DeviceReply,
  ESPOTA_CHUNK_SIZE,
  ESPOTA_COMMANDS,
  ESPOTA_DEFAULT_TIMEOUTS,
  type EspotaCommand,
  type EspotaProgress,
  type EspotaTimeouts,
  type EspotaTranscript,
  EspotaUploader,
  type EspotaUploaderOptions,
  type InvitationOptions,
  type StreamOptions,
  type UploadOptions,
  type UploadResult,
} from './espota-uploader.ts';
