/**
 * The harness' reference update server (role 2 of DESIGN.md): a real update server for
 * ESP8266httpUpdate / ESP32 HTTPUpdate and Lua RTOS net.ota() clients, serving a firmware folder
 * with versions, that the update-server suites must pass.
 */
export { type Catalogue, loadCatalogue, ReferenceServerError, type Release } from './catalogue.ts';
export { REFERENCE_SERVER_DEFECTS, type ReferenceServerProfile, referenceServerDefects } from './defects.ts';
export {
  type ReferenceUpdateServerOptions,
  type StartedReferenceUpdateServer,
  startReferenceUpdateServer,
} from './reference-update-server.ts';
