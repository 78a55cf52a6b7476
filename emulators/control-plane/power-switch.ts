import { setTimeout as sleep } from 'node:timers/promises';
import type { FlashTraceWindow } from '../device/flash-trace.ts';
import { ControlRequestError } from './errors.ts';
import type { CampaignControllable, PowerControllable } from './power-controllable.ts';

/**
 * The device's power behind one queue, so that a cycle is never interleaved with another
 * request's on/off: a second client sees the state before or after the whole cycle.
 */
export class PowerSwitch {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly device: PowerControllable) {}

  get isOn(): boolean {
    return this.device.powered;
  }

  /** The chip's own state where the device says (CampaignControllable.state). */
  get chipState(): string | undefined {
    return this.device.campaign?.state;
  }

  on(): Promise<void> {
    return this.serialized(() => this.device.powerOn());
  }

  off(): Promise<void> {
    return this.serialized(() => this.device.powerOff());
  }

  /** Returns whether the power was on before the toggle (Shelly Gen2 reports it). */
  toggle(): Promise<boolean> {
    return this.serialized(async () => {
      const wasOn = this.device.powered;
      if (wasOn) await this.device.powerOff();
      else await this.device.powerOn();
      return wasOn;
    });
  }

  /** Sets the power and returns whether it was on before. */
  set(on: boolean): Promise<boolean> {
    return this.serialized(async () => {
      const wasOn = this.device.powered;
      if (on) await this.device.powerOn();
      else await this.device.powerOff();
      return wasOn;
    });
  }

  /** Off, `offMs` of real time without power (a board's capacitors drain), on. */
  cycle(offMs: number): Promise<void> {
    return this.serialized(async () => {
      await this.device.powerOff();
      await sleep(offMs);
      await this.device.powerOn();
    });
  }

  cutAfterBytes(bytes: number, tornSeed?: number): Promise<void> {
    return this.serialized(async () => {
      this.requireOn();
      this.device.cutPowerAfterBytes(bytes, tornSeed);
    });
  }

  cutAfterOperations(operations: number, tornSeed?: number): Promise<void> {
    return this.serialized(async () => {
      const campaign = this.campaign();
      this.requireOn();
      campaign.cutPowerAfterOperations(operations, tornSeed);
    });
  }

  cutAfterReceived(bytes: number): Promise<void> {
    return this.serialized(async () => {
      const campaign = this.campaign();
      this.requireOn();
      campaign.cutPowerAfterReceived(bytes);
    });
  }

  trace(since: number): FlashTraceWindow {
    return this.campaign().flashTrace(since);
  }

  saveState(): Promise<number> {
    return this.serialized(async () => this.campaign().saveState());
  }

  restoreState(id: number): Promise<void> {
    return this.serialized(async () => {
      const campaign = this.campaign();
      if (this.device.powered) {
        throw new ControlRequestError(
          409,
          'cannot restore a saved state while the device is on; power it off first',
        );
      }
      try {
        await campaign.restoreState(id);
      } catch (error) {
        if ((error as { code?: string }).code === 'UNKNOWN_STATE')
          throw new ControlRequestError(404, (error as Error).message, 'state');
        throw error;
      }
    });
  }

  /** The serial bridge's DTR and RTS, or undefined when the device has none. */
  get modemLines(): { dtr: boolean; rts: boolean } | undefined {
    return this.device.modemLines;
  }

  setModemLines(lines: { dtr: boolean; rts: boolean }): Promise<void> {
    return this.serialized(async () => {
      if (this.device.setModemLines === undefined)
        throw new ControlRequestError(404, 'this device has no serial bridge lines (DTR/RTS)');
      await this.device.setModemLines(lines);
    });
  }

  private requireOn(): void {
    if (!this.device.powered) {
      throw new ControlRequestError(409, 'cannot arm a power cut while the device is off; power it on first');
    }
  }

  private campaign(): CampaignControllable {
    const campaign = this.device.campaign;
    if (!campaign) {
      throw new ControlRequestError(
        501,
        'this device offers no exact cut points, flash trace or saved states',
      );
    }
    return campaign;
  }

  private serialized<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(operation);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
