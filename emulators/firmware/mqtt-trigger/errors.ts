/** The firmware was started with options it cannot run with (a wrong dialect, platform or URL). */
export class MqttTriggerConfigError extends Error {
  readonly code = 'MQTT_TRIGGER_CONFIG';
}
