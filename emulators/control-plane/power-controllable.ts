import type { FlashTraceWindow } from '../device/flash-trace.ts';

/** What the control plane switches: an emulated device's power, or anything shaped like it. */
export interface PowerControllable {
  readonly powered: boolean;
  powerOn(): Promise<void>;
  powerOff(): Promise<void>;
  /** Arms a cut: the flash loses power after N more programmed bytes. */
  cutPowerAfterBytes(bytes: number, tornSeed?: number): void;
  /** DTR/RTS of the serial bridge (EN and IO0 through the auto-reset circuit), where modelled. */
  readonly modemLines?: { dtr: boolean; rts: boolean };
  setModemLines?(lines: { dtr: boolean; rts: boolean }): Promise<void>;
  /** What a power-cut campaign needs besides power; a device without it answers 501 there. */
  readonly campaign?: CampaignControllable;
}

/**
 * Exact cut points for power-cut campaigns (suites/campaigns/powercut): a cut at the N-th flash
 * operation from now, the numbered operations and boots, and a known state to start each cut from.
 */
export interface CampaignControllable {
  /**
   * What the chip does now (off, booting, running, halted, …): `halted` means the last boot found
   * nothing to run and gave up, so no app will start before the next power cycle.
   */
  readonly state: string;
  cutPowerAfterOperations(operations: number, tornSeed?: number): void;
  /** A cut in the transfer: the power goes as the N-th image byte from now reaches the firmware. */
  cutPowerAfterReceived(bytes: number): void;
  flashTrace(since: number): FlashTraceWindow;
  saveState(): number;
  restoreState(id: number): Promise<void>;
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
