import type { Target } from '../../../drivers/target/index.ts';
import { bootVersionPatterns } from './boot-lines.ts';
import { BootWatch, type SeenBoot } from './boot-watch.ts';
import { StrategyUnsupportedError } from './errors.ts';
import { rebootTimeoutMs, requireConsole } from './observe.ts';
import { armPowerCut } from './power.ts';
import { PULL_PROFILES, pullDelivery } from './pull-delivery.ts';
import {
  type Delivered,
  type DownloadWindow,
  espotaDelivery,
  viperDelivery,
  webDelivery,
} from './push-delivery.ts';

export interface UpdateOptions {
  /**
   * Arms a power cut after this many programmed flash bytes before the update starts; the update
   * then returns once the exchange ended (the device went dark). Power it on with powerOnAfterCut().
   */
  cutAfterBytes?: number;
  /**
   * A cut the caller armed itself (a power-cut campaign: at an exact flash operation through the
   * emulator's control plane, or through the rig's power switch at a byte count): the update
   * returns like one with `cutAfterBytes`, without arming anything.
   */
  armedCut?: boolean;
  /**
   * With a cut: resolves once the caller knows the device has lost power (an emulator's control
   * plane says so). A pull update then returns at once instead of waiting for the device's
   * requests to fall silent, which a board's cut needs.
   */
  dark?: Promise<unknown>;
  /** Image bytes on the wire as the delivery sees them (push: sent and acknowledged; pull: sent). */
  onProgress?: (progress: WireProgress) => void;
  /**
   * Wait for the reboot into the new image after an accepted update (default true). For
   * viperhttp it is also the finalize's `reboot`; the other profiles restart by themselves.
   */
  reboot?: boolean;
}

export interface WireProgress {
  sent: number;
  /** Bytes the device acknowledged, where the protocol says (espota's byte-count acks). */
  acknowledged?: number;
  total: number;
}

export interface UpdateResult {
  /** The protocol's success: the device took and committed the whole image. */
  accepted: boolean;
  /** The device's last word (or what failed), in one line, for Expected/Actual. */
  detail: string;
  /** After an accepted update with `reboot`: the boot that followed (undefined: none came). */
  booted?: SeenBoot;
  /** Every boot that began during the update, complete or not (with a cut: before the power went). */
  boots: SeenBoot[];
  /** Image bytes on the wire when the exchange ended (see Delivered.wireBytes). */
  wireBytes?: number;
  /** Pull profiles: the image download as the update server saw it. */
  download?: DownloadWindow;
}

/** Profiles the strategy can update, and why the others cannot be yet (today: none). */
const NOT_YET: Partial<Record<Target['profile'], string>> = {};

/** Whether updateTarget() can update this target, and the reason when not. */
export function updateSupport(
  target: Pick<Target, 'profile'>,
): { supported: true } | { supported: false; reason: string } {
  const reason = NOT_YET[target.profile];
  return reason === undefined ? { supported: true } : { supported: false, reason };
}

/**
 * Updates the target to `image` through its own protocol (STYLE.md: the strategy that walks a
 * target into "runs image X"): viperhttp / viperhttp-doc push, web-update multipart, arduino-ota
 * espota, the pull profiles (http-update, esp-https-ota, luartos) from the harness' update
 * server at `description.updateServer`, triggered with the console's check command or a power cycle, and
 * mqtt-trigger in its dialect (buttons-json, buttons-u, Tasmota pull; Homie over MQTT). A profile it
 * cannot drive yet throws StrategyUnsupportedError (a rig error), so such a target is never passed
 * unseen.
 */
export async function updateTarget(
  target: Target,
  image: Uint8Array,
  options: UpdateOptions = {},
): Promise<UpdateResult> {
  const support = updateSupport(target);
  if (!support.supported)
    throw new StrategyUnsupportedError(
      `target ${target.name}: the update strategy does not support the ${target.profile} profile yet: ${support.reason}`,
    );
  const cut = options.cutAfterBytes !== undefined || options.armedCut === true;
  const reboot = options.reboot ?? true;
  const console = reboot || cut ? requireConsole(target, 'update and watch the reboot') : undefined;
  const watch = console ? BootWatch.start(console, bootVersionPatterns(target)) : undefined;
  try {
    if (options.cutAfterBytes !== undefined) await armPowerCut(target, options.cutAfterBytes);
    const delivered = await deliver(target, image, {
      cut,
      reboot,
      watch: cut ? undefined : watch,
      onProgress: options.onProgress,
      ...(cut && options.dark ? { dark: options.dark } : {}),
    });
    const boots = () => [...(watch?.boots ?? [])];
    if (cut) {
      // A device that took the whole image restarts by itself; the cut may land in that boot.
      if (delivered.accepted) await watch?.whenBooting(rebootTimeoutMs(target));
      return { ...delivered, boots: boots() };
    }
    if (!delivered.accepted || !watch || delivered.booted) return { ...delivered, boots: boots() };
    const booted = await watch
      .next({ timeoutMs: rebootTimeoutMs(target), step: 'reboot into the new image' })
      .catch(() => undefined);
    if (booted) return { ...delivered, booted, boots: boots() };
    return {
      ...delivered,
      detail: `${delivered.detail}; then no reboot (${watch.describe()})`,
      boots: boots(),
    };
  } finally {
    watch?.stop();
  }
}

function deliver(
  target: Target,
  image: Uint8Array,
  options: {
    cut: boolean;
    reboot: boolean;
    watch: BootWatch | undefined;
    onProgress: ((progress: WireProgress) => void) | undefined;
    dark?: Promise<unknown>;
  },
): Promise<Delivered> {
  if (PULL_PROFILES.has(target.profile)) return pullDelivery(target, image, options);
  switch (target.profile) {
    case 'viperhttp':
    case 'viperhttp-doc':
      return viperDelivery(target, image, options.reboot || options.cut);
    case 'web-update':
      return webDelivery(target, image);
    case 'arduino-ota':
      return espotaDelivery(target, image, options.onProgress);
    case 'mqtt-trigger':
      // Loaded on use: mqtt.js and aedes would otherwise load in the worker of every target.
      return import('./mqtt-delivery.ts').then(({ mqttDelivery }) => mqttDelivery(target, image, options));
    default:
      throw new StrategyUnsupportedError(
        `target ${target.name}: the update strategy does not support the ${target.profile} profile yet`,
      );
  }
}
