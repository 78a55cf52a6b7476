/**
 * The HTTP/HTTPS update server that pull-profile devices download firmware from, with fault scripts.
 *
 * Built on node:net / node:tls with its own request-head parser and response writer, not node:http:
 * node:http rewrites header case, insists on a Content-Length that matches the body and cannot
 * stall or reset mid-body, and these are exactly the faults the scripts must produce. The parser
 * keeps every header line as received (case, order, trailing spaces) for the recording. Bodies are
 * written as subarrays of the stored image (a corrupt byte is spliced in as its own 1-byte piece),
 * so the hot path never copies an image.
 */
export { UpdateServerError, type UpdateServerErrorCode } from './errors.ts';
export { headerValue, type RecordedRequest, type RequestOutcome } from './recorded-request.ts';
export {
  type ContentLengthMode,
  type DecideResponse,
  firmware,
  forbidden,
  luaBadArgs,
  luaNoUpdate,
  notFound,
  notModified,
  type RawHeader,
  type Routes,
  redirectChain,
  type Script,
  type ScriptedResponse,
} from './script.ts';
export {
  createTestCertificates,
  type TestCertificateOptions,
  type TestCertificates,
} from './test-certificates.ts';
export {
  type HandshakeFailure,
  type StartedUpdateServer,
  startUpdateServer,
  type UpdateServerOptions,
  type UpdateServerTlsOptions,
  type WaitForRequestOptions,
} from './update-server.ts';
