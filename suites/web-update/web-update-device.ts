import {
  HttpStepError,
  type TranscriptEvent,
  WebUpdateClient,
  type WebUploadOptions,
  type WebUploadResult,
} from '../../drivers/http/index.ts';
import type { ConsoleLine } from '../../drivers/serial/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import {
  closeWithRequirement,
  cycleOffMs,
  freshSketchVersion,
  RESET_OFF_MS,
  RigFailure,
  requireConsole,
  resetDevice,
  sketchImageFor,
} from '../framework/index.ts';

/**
 * What the suites of this profile need from a device besides HTTP: its boot lines. The test
 * sketch (the library's WebUpdater example plus one line) prints `Sketch <project> version
 * <version>` from the version it was built with, then the example's `HTTPUpdateServer ready!`
 * once the server listens. On an ESP8266, eboot's `@cp:<result>` before them shows a staged copy.
 */
const BOOT_BANNER = /Sketch (?<project>\S+) version (?<version>\S+)/;
const READY = /HTTPUpdateServer ready!/;
/** eboot: `@` (a valid command) then `cp:`, an optional `B` (sector 0 identical) and the result. */
const EBOOT_COPY = /@cp:B?(?<result>\d+)/;

/** The exact success body of both servers (reference arduino-ota.md §2.1, §2.2). */
export const SUCCESS_BODY = '<META http-equiv="refresh" content="15;URL=/">Update Success! Rebooting...';
/** The prefix of every failure body, sent with 200 (§2.1, §7.7). */
export const ERROR_PREFIX = 'Update error: ';
/** requestAuthentication()'s default realm (§2.1). */
export const REALM = 'Login Required';

export type StepRunner = <T>(name: string, body: () => T | Promise<T>) => Promise<T>;

export interface Credentials {
  username: string;
  password: string;
}

/** The rig's credentials for the update page; the auth requirements cannot run without them. */
export function credentialsOf(target: Target): Credentials {
  const { username, password } = target.description;
  if (username === undefined || username === '' || password === undefined || password === '') {
    throw new RigFailure(
      `target ${target.name}: the rig gives no username/password; the web-update suites need the ones the sketch was built with`,
    );
  }
  return { username, password };
}

/** A client session that keeps the exchanges it made, so a requirement can read their headers. */
export interface WebSession {
  client: WebUpdateClient;
  events: TranscriptEvent[];
}

/**
 * A client for the target's `/update`. `credentials: 'rig'` (default) uses the rig's; `'none'`
 * sends none; an object sends those (wrong ones on purpose).
 */
export function openSession(
  target: Target,
  options: { credentials?: 'rig' | 'none' | Credentials; auth?: 'basic' | 'digest' | 'auto' } = {},
): WebSession {
  const url = target.description.url;
  if (url === undefined)
    throw new RigFailure(`target ${target.name}: the rig gives no "url" for its update server`);
  const credentials =
    options.credentials === 'none'
      ? undefined
      : options.credentials === undefined || options.credentials === 'rig'
        ? credentialsOf(target)
        : options.credentials;
  const events: TranscriptEvent[] = [];
  const client = new WebUpdateClient({
    baseUrl: url,
    targetName: target.name,
    ...(credentials ?? {}),
    auth: options.auth ?? 'auto',
    timeouts: { stepMs: target.stepTimeoutMs },
    transcript: (event) => {
      events.push(event);
      const outcome =
        event.status === undefined ? `no answer (${event.error ?? 'closed'})` : `${event.status}`;
      target.transcript.record(event.step, 'send', `${event.method} ${event.path} (${event.bytes.sent} B)`);
      target.transcript.record(event.step, 'receive', `${outcome} (${event.bytes.received} B)`);
    },
    redact: (text) => target.redactor.redact(text),
  });
  // Destroyed with the requirement too, should it time out before usingSession's own cleanup.
  closeWithRequirement(() => client.destroy());
  return { client, events };
}

export async function usingSession<T>(
  target: Target,
  options: Parameters<typeof openSession>[1],
  body: (session: WebSession) => Promise<T>,
): Promise<T> {
  const session = openSession(target, options);
  try {
    return await body(session);
  } finally {
    await session.client.destroy();
  }
}

export interface PageAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** GET the form; a 401 is an answer here (with the challenge of its exchange), not an error. */
export async function getPage(session: WebSession): Promise<PageAnswer> {
  try {
    return await session.client.page();
  } catch (error) {
    if (!(error instanceof HttpStepError) || error.code !== 'HTTP_STATUS' || error.status !== 401)
      throw error;
    const last = session.events.filter((event) => event.method === 'GET').at(-1);
    return { status: 401, headers: last?.responseHeaders ?? {}, body: error.responseText ?? '' };
  }
}

/** An upload whose 401 comes back as an answer. */
export function upload(
  session: WebSession,
  image: Uint8Array,
  options: WebUploadOptions = {},
): Promise<WebUploadResult> {
  return session.client.upload(image, { throwOnUnauthorized: false, ...options });
}

/** `HTTP 200 "Update error: …"` or `connection cut after N bytes`, for Expected/Actual. */
export function describeResult(result: WebUploadResult): string {
  if (result.outcome === 'cut') return `connection cut after ${result.sentBytes} bytes (${result.detail})`;
  const body = result.body.length > 200 ? `${result.body.slice(0, 200)}…` : result.body;
  return `HTTP ${result.status} ${JSON.stringify(body)}`;
}

export function headerOf(headers: PageAnswer['headers'], name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

export function isSuccess(result: WebUploadResult): boolean {
  return result.outcome === 'answered' && result.status === 200 && result.body === SUCCESS_BODY;
}

export { freshSketchVersion as freshVersion, sketchImageFor as imageFor };

function rebootTimeoutMs(target: Target): number {
  return target.description.limits?.rebootTimeoutMs ?? target.stepTimeoutMs;
}

async function restart(target: Target, how: 'reset' | 'power-cycle'): Promise<void> {
  if (how === 'power-cycle') {
    if (target.power === undefined) throw new RigFailure(`target ${target.name}: no power driver`);
    await target.power.cycle(cycleOffMs(target, RESET_OFF_MS));
    return;
  }
  await resetDevice(target);
}

/**
 * The known state each requirement starts from, and the check after a refused upload: the
 * device restarted (which ends any upload an earlier requirement left behind) and its server up.
 * Returns the version it booted.
 */
export async function restartAndReadVersion(
  target: Target,
  step: StepRunner,
  why: string,
  how: 'reset' | 'power-cycle' = 'reset',
): Promise<string> {
  const action = how === 'reset' ? 'restart the device' : 'power-cycle the device';
  return await step(`${action} (${why}) and read the version it boots`, async () => {
    const watch = watchNextBoot(target);
    try {
      await restart(target, how);
      return (await watch.booted(`read the boot banner (${why})`)).version;
    } finally {
      watch.stop();
    }
  });
}

export interface Boot {
  version: string;
  /** eboot's copy result on an ESP8266 (`@cp:0` is a good copy); undefined when no copy ran. */
  ebootCopy?: number;
  /** The device lines from the start of the watch to `ready`. */
  lines: string[];
}

/**
 * Watches the console for the next complete boot (banner, then ready) without consuming lines,
 * so a watch nobody waits for (the device refused the image and stayed up) cannot steal lines
 * a later expect() needs. Call stop() when done.
 */
export function watchNextBoot(target: Target): { booted(why: string): Promise<Boot>; stop(): void } {
  const console = requireConsole(target);
  const seen: string[] = [];
  let version: string | undefined;
  let done: Boot | undefined;
  let ready: ((boot: Boot) => void) | undefined;
  const unsubscribe = console.onLine((line: ConsoleLine) => {
    if (line.source !== 'device' || done !== undefined) return;
    seen.push(line.text);
    const banner = BOOT_BANNER.exec(line.text);
    if (banner) version = banner.groups?.version ?? '';
    else if (version !== undefined && READY.test(line.text)) {
      const copy = seen.map((text) => EBOOT_COPY.exec(text)).find((match) => match !== null);
      const result = copy?.groups?.result;
      done = { version, lines: [...seen], ...(result === undefined ? {} : { ebootCopy: Number(result) }) };
      ready?.(done);
    }
  });
  return {
    booted: (why) =>
      new Promise<Boot>((resolve, reject) => {
        if (done !== undefined) {
          resolve(done);
          return;
        }
        const timeoutMs = rebootTimeoutMs(target) + 3_000;
        const timer = setTimeout(() => {
          ready = undefined;
          const tail = seen.slice(-5).join(' | ');
          reject(
            new Error(
              `target ${target.name}: ${why}: no boot banner and ready line within ${timeoutMs} ms${tail === '' ? '' : ` (last lines: ${tail})`}`,
            ),
          );
        }, timeoutMs);
        ready = (boot) => {
          clearTimeout(timer);
          resolve(boot);
        };
      }),
    stop: unsubscribe,
  };
}

/**
 * Resolves with undefined when no boot banner appeared since console line `sinceLine` and none
 * appears for `forMs` more; otherwise with the banner line. Reads without consuming lines.
 */
export async function bannerWithin(
  target: Target,
  sinceLine: number,
  forMs: number,
): Promise<string | undefined> {
  const console = requireConsole(target);
  const earlier = console
    .lines()
    .slice(sinceLine)
    .find((line) => line.source === 'device' && BOOT_BANNER.test(line.text));
  if (earlier !== undefined) return earlier.text;
  return await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => {
      unsubscribe();
      resolve(undefined);
    }, forMs);
    const unsubscribe = console.onLine((line) => {
      if (line.source !== 'device' || !BOOT_BANNER.test(line.text)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(line.text);
    });
  });
}

/** Where the console log stands now, for bannerWithin(). */
export function consoleMark(target: Target): number {
  return requireConsole(target).lines().length;
}

/**
 * An upload the device is expected to refuse. Should it report success instead, it restarts by
 * itself: that boot is waited for (so the next step does not reset a device in the middle of its
 * own restart) and returned, to be named in the failure.
 */
export async function refusedUpload(
  target: Target,
  session: WebSession,
  image: Uint8Array,
  options: WebUploadOptions = {},
): Promise<{ result: WebUploadResult; bootedAfterSuccess?: string; consoleMark: number }> {
  const mark = consoleMark(target);
  const watch = watchNextBoot(target);
  try {
    const result = await upload(session, image, options);
    if (!isSuccess(result)) return { result, consoleMark: mark };
    const boot = await watch.booted('the device restarts after its success page').then(
      (seen) => seen.version,
      () => '(no restart seen)',
    );
    return { result, bootedAfterSuccess: boot, consoleMark: mark };
  } finally {
    watch.stop();
  }
}

/** Uploads a good image and waits for the reboot the success page announces. */
export async function installImage(
  target: Target,
  step: StepRunner,
  image: Uint8Array,
  what: string,
  options: WebUploadOptions = {},
): Promise<{ result: WebUploadResult; boot?: Boot; bootError?: string }> {
  const watch = watchNextBoot(target);
  try {
    const result = await step(`upload ${what} (${image.length} bytes)`, () =>
      usingSession(target, {}, (session) => upload(session, image, options)),
    );
    if (!isSuccess(result)) return { result };
    return await step('wait for the reboot and read the version it boots', () =>
      watch.booted('wait for the reboot into the new image').then(
        (boot) => ({ result, boot }),
        (error: unknown) => ({ result, bootError: String((error as Error).message ?? error) }),
      ),
    );
  } finally {
    watch.stop();
  }
}
