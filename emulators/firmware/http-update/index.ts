export {
  type FollowRedirects,
  HttpUpdateClient,
  type HttpUpdateOutcome,
  type HttpUpdateSettings,
} from './http-update-client.ts';
export { HttpClientError, HttpUpdateError, HttpUpdateResult, lastErrorString } from './http-update-errors.ts';
export { type HttpUpdateOptions, httpUpdateFirmware } from './http-update-firmware.ts';
export { type Http10Response, HttpTransportError, http10Get, type TlsTrust } from './http10-client.ts';
export { type DeviceIdentity, hostHeader, updateRequestHeaders } from './update-request.ts';
