/** Stable codes for what can go wrong on the harness's MQTT side. */
export type MqttDriverErrorCode =
  /** The broker refused or never answered the connection: a rig error, not the device's. */
  | 'MQTT_BROKER_UNREACHABLE'
  /** The broker dropped the harness's own connection while a step waited. */
  | 'MQTT_CONNECTION_LOST'
  /** No message matching what a step waited for arrived within its timeout. */
  | 'MQTT_MESSAGE_TIMEOUT'
  /** The harness could not start a broker (bind failed, mosquitto exited). */
  | 'MQTT_BROKER_START_FAILED'
  /** `startMosquitto` was called on a machine without the mosquitto binary. */
  | 'MQTT_MOSQUITTO_NOT_INSTALLED';

export class MqttDriverError extends Error {
  override readonly name = 'MqttDriverError';
  constructor(
    readonly code: MqttDriverErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** True when the error means the broker (the rig) failed rather than the device. */
export function isBrokerFailure(error: unknown): boolean {
  if (!(error instanceof MqttDriverError)) return false;
  return (
    error.code === 'MQTT_BROKER_UNREACHABLE' ||
    error.code === 'MQTT_CONNECTION_LOST' ||
    error.code === 'MQTT_BROKER_START_FAILED'
  );
}
