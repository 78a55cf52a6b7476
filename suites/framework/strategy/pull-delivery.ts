import type { ConsoleLine } from '../../../drivers/serial/index.ts';
import type { Target } from '../../../drivers/target/index.ts';
import {
  type DecideResponse,
  firmware,
  luaNoUpdate,
  notModified,
  type RecordedRequest,
  type ScriptedResponse,
  type StartedUpdateServer,
} from '../../../drivers/update-server/index.ts';
import { cycleOffMs } from '../power-off-time.ts';
import { RigFailure } from '../rig-failure.ts';
import { startRigUpdateServer } from '../rig-update-server.ts';
import { updateFailedPatterns } from './boot-lines.ts';
import type { BootWatch } from './boot-watch.ts';
import { StrategyUnsupportedError } from './errors.ts';
import { consoleTail, noRebootWindowMs, rebootTimeoutMs } from './observe.ts';
import type { Delivered, DownloadWindow } from './push-delivery.ts';

/** Profiles whose device downloads the image from the harness' update server. */
export const PULL_PROFILES = new Set<Target['profile']>(['http-update', 'esp-https-ota', 'luartos']);

/**
 * The answer that tells a device there is nothing new, per profile: 304 for the HTTPUpdate
 * clients (arduino-ota.md §3.1) and esp_https_ota (ESP_ERR_HTTP_NOT_MODIFIED, esp-idf.md §5.3);
 * 471 for Lua RTOS net.ota() (viperhttp-luartos-mqtt.md §2.3). A device must not flash on it,
 * so the check it makes at every boot cannot undo what a requirement set up.
 */
function idleAnswer(profile: Target['profile']): ScriptedResponse {
  return profile === 'luartos' ? luaNoUpdate() : notModified();
}

/**
 * What the harness types on a pull device's console to make it check for an update now, without
 * the line end. Lua RTOS has no command of its own: its console is the Lua REPL, and `net.ota()`
 * is the call that checks (Lua-RTOS-ESP32 6b455df4 `components/lua/modules/net/net.c` 373–381,
 * registered as `net.ota`; viperhttp-luartos-mqtt.md §2.1), so `ota check` there is a Lua syntax
 * error. The other profiles run the lab's own sketch or app, which takes `ota check` (README); a
 * rig whose firmware takes something else names it in `options.checkCommand`.
 */
export function checkCommand(target: Pick<Target, 'profile' | 'description'>): string {
  const own = target.description.options?.checkCommand;
  if (typeof own === 'string' && own.trim() !== '') return own.trim();
  return target.profile === 'luartos' ? 'net.ota()' : 'ota check';
}

/** Lua RTOS reads `Content-Type` and `Content-Length` only in that exact case (§2.3). */
function offerAnswer(profile: Target['profile'], image: Uint8Array): ScriptedResponse {
  if (profile !== 'luartos') return firmware(image);
  return {
    status: 200,
    headers: [
      ['Content-Type', 'application/octet-stream'],
      ['Content-Length', String(image.length)],
    ],
    body: image,
  };
}

/** After a failed earlier check: how long the device has to ask for the image before the check command is sent again. */
const BUSY_CHECK_GRACE_MS = 300;

/** After a cut the device is dark once the server has heard nothing from it for this long. */
const QUIET_AFTER_CUT_MS = 300;
/** After the reboot into the new image: how long to wait for the check it makes at boot. */
const BOOT_CHECK_WAIT_MS = 300;

function isDownload(request: RecordedRequest): boolean {
  return request.method === 'GET';
}

/** Body bytes of the image the device took in whole responses (Range pieces add up). */
function servedBytes(requests: readonly RecordedRequest[]): number {
  return requests
    .filter(
      (request) =>
        isDownload(request) &&
        request.outcome === 'complete' &&
        (request.status === 200 || request.status === 206),
    )
    .reduce((sum, request) => sum + request.bodyBytesSent, 0);
}

/**
 * A pull update: the harness serves `image` at the address the device was given
 * (`description.updateServer`) until the device has taken all of it, then answers "no update";
 * it triggers a check with the console's check command (checkCommand), else with a power cycle (a device
 * checks at boot). With a cut armed it returns once the device fell silent; otherwise once the
 * device rebooted and its boot check was answered.
 */
export async function pullDelivery(
  target: Target,
  image: Uint8Array,
  options: {
    cut: boolean;
    watch: BootWatch | undefined;
    /** Tells the device to fetch the image at `url` (an MQTT trigger); default the check command or a power cycle. */
    trigger?: (url: string) => Promise<void>;
    /** Image bytes the server has handed to the device so far (a board campaign's cut at N sent). */
    onProgress?: (progress: { sent: number; total: number }) => void;
    /** With a cut: resolves once the power is known to be off (see UpdateOptions.dark). */
    dark?: Promise<unknown>;
  },
): Promise<Delivered> {
  const where = target.description.updateServer;
  if (where?.port === undefined)
    throw new RigFailure(`target ${target.name}: the rig gives no update server port for a pull update`);
  const hasConsole = target.console !== undefined && target.capabilities.has('console');
  const command = checkCommand(target);
  if (options.cut && !hasConsole && !options.trigger)
    throw new StrategyUnsupportedError(
      `target ${target.name}: a cut during a pull update needs the console's \`${command}\` (a power cycle to trigger the check would disarm the cut)`,
    );
  const idle = idleAnswer(target.profile);
  const onProgress = options.onProgress;
  let sent = 0; // over every request: Range pieces and retries add up
  const offer: ScriptedResponse = onProgress
    ? {
        ...offerAnswer(target.profile, image),
        onBodySent: (piece) => {
          sent += piece;
          onProgress({ sent, total: image.length });
        },
      }
    : offerAnswer(target.profile, image);
  let idleFromNow = false;
  let server: StartedUpdateServer | undefined;
  const decide: DecideResponse = (request) => {
    if (!idleFromNow && server) {
      const earlier = server.requests().filter((seen) => seen.index !== request.index);
      if (servedBytes(earlier) >= image.length) idleFromNow = true;
    }
    return idleFromNow ? idle : offer;
  };
  server = await startRigUpdateServer(target, { ...where, port: where.port }, { '*': decide });
  const mark = target.console?.lines().length ?? 0;
  try {
    const step = 'trigger an update check';
    if (options.trigger) {
      const base = (where.publicUrl ?? server.url).replace(/\/$/, '');
      await options.trigger(`${base}/firmware.bin`);
    } else if (hasConsole) {
      target.transcript.record(step, 'send', `console: ${command}`);
      await target.console!.write(`${command}\n`, { step });
    } else if (target.power && target.capabilities.has('power-cycle')) {
      target.transcript.record(step, 'send', 'power cycle (the device checks at boot)');
      await target.power.cycle(cycleOffMs(target));
    } else {
      throw new StrategyUnsupportedError(
        `target ${target.name}: neither a console nor a power switch to make the device check for an update`,
      );
    }
    const triggeredAt = target.console?.lines().length ?? 0;
    const askedFor = () =>
      server!
        .waitForRequest(isDownload, {
          timeoutMs: rebootTimeoutMs(target),
          step: 'the device asks for the image',
        })
        .catch(() => undefined);
    let first: RecordedRequest | 'failed' | undefined;
    // A failed check printed after the trigger and before any request is one the device was
    // already making (lines before the trigger belong to checks that had ended).
    const beforeCheck = failureLine(target, triggeredAt);
    try {
      first = await Promise.race([askedFor(), beforeCheck.seen.then(() => 'failed' as const)]);
    } finally {
      beforeCheck.stop();
    }
    if (first === 'failed') {
      // A device that queues the command (or took ours right after) asks within moments.
      const soon = await server
        .waitForRequest(isDownload, { timeoutMs: BUSY_CHECK_GRACE_MS, step: 'the device asks for the image' })
        .catch(() => undefined);
      if (soon !== undefined) first = soon;
    }
    if (first === 'failed') {
      // The device printed a failed check before it asked us for anything: a check it was already
      // making when our check command arrived (the one at boot, before our server listened), which it
      // does not queue. Asked again, once, it checks against our server.
      if (hasConsole && !options.trigger) {
        target.transcript.record(
          step,
          'send',
          `console: ${command} (again: the device was busy with an earlier check)`,
        );
        await target.console!.write(`${command}\n`, { step });
      }
      first = await askedFor();
    }
    if (!first)
      return {
        accepted: false,
        detail: `the device did not ask for the image (${consoleTail(target, mark)})`,
      };
    target.transcript.record('download', 'receive', first.requestLine);
    const askedAt = target.console?.lines().length ?? 0;
    if (options.cut) {
      const silent = quiet(server, QUIET_AFTER_CUT_MS, rebootTimeoutMs(target));
      await (options.dark ? Promise.race([silent, options.dark]) : silent);
      idleFromNow = true;
      const served = servedBytes(server.requests());
      const sent = server
        .requests()
        .filter(isDownload)
        .reduce((sum, request) => sum + request.bodyBytesSent, 0);
      return {
        accepted: false,
        detail: `the device fell silent after ${served} of ${image.length} bytes were handed to it`,
        wireBytes: sent,
      };
    }
    const watch = options.watch;
    if (!watch) return { accepted: true, detail: 'the device took the image' };
    // Only a failure printed once the device asked us for the image ends the wait early: one from
    // an earlier check (the one at boot) says nothing about this download.
    const failed = failureLine(target, askedAt);
    const booted = await watch
      .next({
        timeoutMs: rebootTimeoutMs(target),
        step: 'the device reboots after the download',
        shorten: { when: failed.seen, graceMs: noRebootWindowMs(target) },
      })
      .catch(() => undefined)
      .finally(failed.stop);
    idleFromNow = true;
    if (!booted)
      return {
        accepted: false,
        detail: `${servedBytes(server.requests())} of ${image.length} bytes served, then no reboot${failed.text() ? ` (the device printed "${failed.text()}")` : ''} (${consoleTail(target, mark)})`,
      };
    const bootCheck = server.requests().length;
    await server
      .waitForRequest((request) => request.index >= bootCheck, {
        until: 'ended',
        timeoutMs: BOOT_CHECK_WAIT_MS,
      })
      .catch(() => undefined);
    return {
      accepted: true,
      detail: `downloaded ${image.length} bytes and rebooted`,
      booted,
      ...downloadWindow(server.requests()),
    };
  } finally {
    await server.stop();
  }
}

/** The first image request's start to the last one's end (Range pieces and retries included). */
function downloadWindow(requests: readonly RecordedRequest[]): { download?: DownloadWindow } {
  const downloads = requests.filter(
    (request) =>
      isDownload(request) &&
      request.endedAt !== undefined &&
      (request.status === 200 || request.status === 206),
  );
  const first = downloads[0];
  if (first === undefined) return {};
  return {
    download: {
      startedAt: first.startedAt,
      endedAt: Math.max(...downloads.map((request) => request.endedAt ?? request.startedAt)),
      bytes: servedBytes(downloads),
    },
  };
}

/**
 * Watches the console from line `from` for the profile's "update failed" line: `seen` resolves on
 * it (never, without a console or a known line); `stop` ends the watch.
 */
function failureLine(
  target: Target,
  from: number,
): { seen: Promise<void>; text: () => string | undefined; stop: () => void } {
  const patterns = updateFailedPatterns(target);
  const console = target.console;
  if (!console || patterns.length === 0)
    return { seen: new Promise<never>(() => {}), text: () => undefined, stop: () => {} };
  let matched: string | undefined;
  let resolveSeen: () => void = () => {};
  const seen = new Promise<void>((resolve) => {
    resolveSeen = resolve;
  });
  const check = (line: ConsoleLine) => {
    if (matched !== undefined || line.source !== 'device') return;
    if (!patterns.some((pattern) => pattern.test(line.text))) return;
    matched = line.text;
    resolveSeen();
  };
  for (const line of console.lines().slice(from)) check(line);
  const stop = console.onLine(check);
  return { seen, text: () => matched, stop };
}

/** Resolves once every request has ended and none started for `forMs` (or after `limitMs`). */
async function quiet(server: StartedUpdateServer, forMs: number, limitMs: number): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (performance.now() < deadline) {
    const count = server.requests().length;
    const open = server.requests().some((request) => request.outcome === 'in-progress');
    await new Promise((resolve) => setTimeout(resolve, forMs));
    if (!open && server.requests().length === count) return;
  }
}
