/**
 * The harness's MQTT side: brokers it can start (embedded aedes, a Mosquitto for CI), its client
 * (mqtt.js) with a message log steps can wait on, and the trigger dialects of the `mqtt-trigger`
 * profile (reference/viperhttp-luartos-mqtt.md §3).
 */
export {
  BUTTONS_ROOT_COMMAND_TOPIC,
  BUTTONS_STATE_TOPIC,
  type ButtonsState,
  ButtonsTrigger,
  parseButtonsState,
} from './buttons-trigger.ts';
export { type EmbeddedBrokerOptions, type StartedBroker, startEmbeddedBroker } from './embedded-broker.ts';
export { isBrokerFailure, MqttDriverError, type MqttDriverErrorCode } from './errors.ts';
export { HomieOta, type HomieOtaStatus, md5Hex, parseHomieStatus } from './homie-ota.ts';
export { type MosquittoOptions, mosquittoPath, startMosquitto } from './mosquitto.ts';
export {
  type ExpectMessageOptions,
  MqttHarness,
  type MqttHarnessOptions,
  type MqttHarnessTimeouts,
  type MqttMessage,
  type MqttTranscript,
  type PublishOptions,
  topicMatches,
} from './mqtt-harness.ts';
export { statusVersion, TasmotaTrigger } from './tasmota-trigger.ts';
