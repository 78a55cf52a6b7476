export { MqttTriggerConfigError } from './errors.ts';
export { mqttTriggerFirmware } from './mqtt-trigger-firmware.ts';
export { DIALECTS, type Dialect } from './options.ts';
