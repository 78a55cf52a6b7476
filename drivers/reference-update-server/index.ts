/**
 * The harness' reference update server (role 2 of DESIGN.md): a real update server for
 * ESP8266httpUpdate / ESP32 HTTPUpdate, Lua RTOS net.ota() and esp_https_ota clients, serving a
 * firmware folder with versions, a staged rollout and bandwidth limits, that the update-server
 * suites must pass and `ota-conformance serve` runs for real devices.
 */
export { ByteRate } from './byte-rate.ts';
export { type Catalogue, loadCatalogue, ReferenceServerError, type Release } from './catalogue.ts';
export { REFERENCE_SERVER_DEFECTS, type ReferenceServerProfile, referenceServerDefects } from './defects.ts';
export {
  type ReferenceUpdateServerOptions,
  type ServedRequest,
  type StartedReferenceUpdateServer,
  startReferenceUpdateServer,
} from './reference-update-server.ts';
export { inRollout } from './rollout.ts';
export { type RolloutTriggerOptions, type TriggerDialect, triggerMessages } from './rollout-trigger.ts';
