/** The HTTP/HTTPS update server that pull-profile devices download firmware from, with fault scripts. */
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
  type HandshakeFailure,
  type StartedUpdateServer,
  startUpdateServer,
  type UpdateServerOptions,
  type UpdateServerTlsOptions,
  type WaitForRequestOptions,
} from './update-server.ts';
