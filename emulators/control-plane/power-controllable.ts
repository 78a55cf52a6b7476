/** What the control plane switches: an emulated device's power, or anything shaped like it. */
export interface PowerControllable {
  readonly powered: boolean;
  powerOn(): Promise<void>;
  powerOff(): Promise<void>;
  /** Arms a cut: the flash loses power after N more programmed bytes. */
  cutPowerAfterBytes(bytes: number): void;
  /** DTR/RTS of the serial bridge (EN and IO0 through the auto-reset circuit), where modelled. */
  readonly modemLines?: { dtr: boolean; rts: boolean };
  setModemLines?(lines: { dtr: boolean; rts: boolean }): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Interface to bind; loopback unless a rig really needs the endpoint on the network. */
  host?: string;
  /** 0 (the default) lets the OS pick a free port; read it back from StartedControlPlane. */
  port?: number;
  /**
   * When set, every request must carry it: `Authorization: Bearer <token>`, Basic auth with it
   * as the password (Shelly), or Tasmota's `user=…&password=<token>` query parameters.
   */
  token?: string;
}

export interface StartedControlPlane {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:40123`. */
  url: string;
  port: number;
  stop(): Promise<void>;
}
