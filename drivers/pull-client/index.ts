/**
 * The harness as the device (role 2 of DESIGN.md): the exact requests an ESP8266httpUpdate, ESP32
 * HTTPUpdate or Lua RTOS net.ota() client sends, and a raw client that returns the server's
 * answer byte for byte.
 */
export {
  espHttpClientRequest,
  type HttpUpdateIdentity,
  httpUpdateRequest,
  luaRtosRequest,
} from './device-requests.ts';
export {
  exactHeaderLine,
  headerOf,
  PullClientError,
  type PullResponse,
  type PullTls,
  sendPullRequest,
} from './pull-client.ts';
export { reachServer } from './reach-server.ts';
