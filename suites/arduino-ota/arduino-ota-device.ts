import type { Socket } from 'node:net';
import type { ConnectBackListener, DeviceReply, EspotaUploader } from '../../drivers/espota/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import {
  freshSketchVersion,
  type RequirementContext,
  RigFailure,
  requireConsole,
  resetDevice,
  sketchImageFor,
} from '../framework/index.ts';
import { espotaUploaderFor } from '../framework/strategy/espota-uploader.ts';

/**
 * What the suites of this profile need from a device besides the wire: its boot banner. The
 * emulator prints BasicOTA's `Booting` line with the running build's project name and version;
 * a real board's test sketch must print the same line (`Booting <project> <version>`, from the
 * version it was compiled with) and `Ready` once ArduinoOTA.begin() returned.
 */
const BOOT_BANNER = /Booting (?<project>\S+) (?<version>\S+)/;
const READY = /^Ready\b/;

export type StepRunner = <T>(name: string, body: () => T | Promise<T>) => Promise<T>;

/** The rig's password for the device; the auth requirements cannot run without it. */
export function passwordOf(target: Target): string {
  const password = target.description.password;
  if (password === undefined || password === '') {
    throw new RigFailure(
      `target ${target.name}: the rig gives no password; the arduino-ota suites need the one the sketch was built with`,
    );
  }
  return password;
}

/** The challenge scheme the rig says the device uses (`options.authScheme`), md5 unless told. */
export function declaredScheme(target: Target): 'md5' | 'sha256' {
  const scheme = target.description.options?.authScheme;
  return scheme === 'pbkdf2-sha256' || scheme === 'sha256' ? 'sha256' : 'md5';
}

/** The suites' espota uploader: the strategy's, so a suite and an update reach the device alike. */
export const uploaderFor = espotaUploaderFor;

export { freshSketchVersion as freshVersion, sketchImageFor as imageFor };

/**
 * The known state every requirement starts from: the device restarted (which ends any session
 * an earlier requirement left behind) and its sketch up. Returns the version it booted.
 */
export async function restartAndReadVersion(target: Target, step: StepRunner, why: string): Promise<string> {
  return await step(`restart the device (${why}) and read the version it boots`, async () => {
    const console = requireConsole(target);
    const banner = console.expect(BOOT_BANNER, {
      timeoutMs: target.description.limits?.rebootTimeoutMs ?? target.stepTimeoutMs,
      step: `read the boot banner (${why})`,
      fromNow: true,
    });
    banner.catch(() => {});
    await resetDevice(target);
    const seen = await banner;
    await console.expect(READY, { timeoutMs: target.stepTimeoutMs, step: 'wait for ArduinoOTA to be ready' });
    return seen.groups.version ?? '';
  });
}

/**
 * Watches the console for the next complete boot (banner, then `Ready`) without consuming lines,
 * so a watch nobody ends up waiting for (the device refused the image and does not restart)
 * cannot steal the lines a later expect() needs. Call stop() when done.
 */
export function watchNextBoot(target: Target): { booted(why: string): Promise<string>; stop(): void } {
  const console = requireConsole(target);
  let version: string | undefined;
  let ready: ((value: string) => void) | undefined;
  let done: string | undefined;
  const unsubscribe = console.onLine((line) => {
    if (line.source !== 'device' || done !== undefined) return;
    const banner = BOOT_BANNER.exec(line.text);
    if (banner) version = banner.groups?.version ?? '';
    else if (version !== undefined && READY.test(line.text)) {
      done = version;
      ready?.(version);
    }
  });
  return {
    booted: (why) =>
      new Promise<string>((resolve, reject) => {
        if (done !== undefined) {
          resolve(done);
          return;
        }
        const timeoutMs = (target.description.limits?.rebootTimeoutMs ?? target.stepTimeoutMs) + 3_000;
        const timer = setTimeout(() => {
          ready = undefined;
          reject(new Error(`target ${target.name}: ${why}: no boot banner and Ready within ${timeoutMs} ms`));
        }, timeoutMs);
        ready = (value) => {
          clearTimeout(timer);
          resolve(value);
        };
      }),
    stop: unsubscribe,
  };
}

/** Resolves when no boot banner appears for `forMs`; rejects with the banner line if one does. */
export async function expectNoRestart(target: Target, forMs: number, why: string): Promise<void> {
  await requireConsole(target).expectNot(BOOT_BANNER, { forMs, step: why });
}

/** An invitation on a fresh listener: the reply and the listener, which the caller closes. */
export async function inviteWithListener(
  uploader: EspotaUploader,
  image: Uint8Array,
  md5: string,
): Promise<{ reply: DeviceReply; listener: ConnectBackListener }> {
  const listener = await uploader.listen();
  try {
    const reply = await uploader.invite({ listenPort: listener.port, size: image.length, md5 });
    return { reply, listener };
  } catch (error) {
    await listener.close();
    throw error;
  }
}

/** Ends a session on purpose: the uploader goes away without sending a byte. */
export function hangUp(socket: Socket): void {
  socket.destroy();
}

/** Checks that `answer` is `OK` (else Expected `expected`), waits for the connect-back, then hangs up. */
export async function expectOkAndConnectBack(
  { step, check }: Pick<RequirementContext, 'step' | 'check'>,
  listener: ConnectBackListener,
  answer: DeviceReply,
  expected: string,
): Promise<void> {
  check(answer.kind === 'ok', expected, JSON.stringify(answer.text));
  const socket = await step('wait for the connect-back', () => listener.accept());
  hangUp(socket);
}
