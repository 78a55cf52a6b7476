import { createHash } from 'node:crypto';
import type { Target } from '../../drivers/target/index.ts';
import {
  firmware,
  headerValue,
  notModified,
  type RecordedRequest,
  type ScriptedResponse,
} from '../../drivers/update-server/index.ts';
import type { Capability } from '../../rigs/index.ts';
import type { RequirementContext } from '../framework/index.ts';
import {
  appImage,
  consoleMark,
  expectNoReboot,
  type PullImage,
  type PullSession,
  watchConsole,
  withPullSession,
} from './pull-kit.ts';

export const SOURCE_8266 =
  'docs/protocols/arduino-ota.md §3.1 (ESP8266httpUpdate.cpp handleUpdate() L160-383)';
export const SOURCE_32 = 'docs/protocols/arduino-ota.md §3.2 (ESP32 HTTPUpdate.cpp)';

/**
 * What every http-update requirement needs: a way to make the device check for an update (`ota
 * check` on its console, else a power cycle: it checks at boot). PullSession.trigger() uses either.
 */
export const PULL_TRIGGER: { readonly needsOneOf: Capability[] } = { needsOneOf: ['console', 'power-cycle'] };

export function sourceFor(section: string): string {
  return `docs/protocols/arduino-ota.md §3.1 ${section} (ESP8266httpUpdate.cpp handleUpdate()); §3.2 for ESP32`;
}

/** `x-ESP8266-` or `x-ESP32-`: the header prefix of the target's platform. */
export function prefix(target: Target): string {
  return target.platform === 'esp32' ? 'x-ESP32-' : 'x-ESP8266-';
}

export function md5(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

/** The header the device reports, by its exact name. */
export function exactHeader(request: RecordedRequest, name: string): string | undefined {
  return request.headers.find(([headerName]) => headerName === name)?.[1];
}

export function reportedVersion(target: Target, request: RecordedRequest): string | undefined {
  return headerValue(request, `${prefix(target)}version`);
}

export function reportedMd5(target: Target, request: RecordedRequest): string | undefined {
  return headerValue(request, `${prefix(target)}sketch-md5`);
}

/** The example sketch's result lines (the ESP8266 example spells it HTTP_UPDATE_FAILD). */
export const FAILED_LINE = /HTTP_UPDATE_FAILE?D Error \((-?\d+)\)/;

/** Any result line of the example sketch (HTTP_UPDATE_OK is not printed when it restarts). */
const RESULT_LINE = /HTTP_UPDATE_(NO_UPDATES|OK|FAILE?D)/;

/** The idle answer: the running sketch is current. */
export const IDLE = notModified();

/**
 * Installs `image` the way a server offers an update: 200 with the image and its x-MD5 to the
 * next check, 304 afterwards. Returns the check the device makes after it rebooted into it, which
 * must carry the image's version and MD5 — the positive control of every group.
 */
export async function install(
  context: Pick<RequirementContext, 'step' | 'check'>,
  session: PullSession,
  image: PullImage,
): Promise<RecordedRequest> {
  const { step, check } = context;
  const target = session.target;
  // The sketch prints its 304 result after the answer is out: wait for it, so that a later watch
  // for a result line cannot take this one.
  const settled = target.console
    ? watchConsole(target, /HTTP_UPDATE_NO_UPDATES/, 'the 304 after the reboot is handled')
    : undefined;
  const offer = await step(`offer ${image.version} (200, ${image.bytes.length} bytes, x-MD5)`, () =>
    session.check(`check for ${image.version}`, [firmware(image.bytes), IDLE]),
  );
  const after = await step(`the device reboots into ${image.version} and checks again`, async () => {
    try {
      return await session.server.waitForRequest(
        (request) => request.index > offer.index && reportedVersion(target, request) === image.version,
        {
          timeoutMs: 3 * (target.description.limits?.rebootTimeoutMs ?? 5_000),
          step: 'the check after the reboot',
        },
      );
    } catch {
      return undefined;
    }
  });
  check(
    after !== undefined,
    `after a 200 with ${image.version} the device reboots and its next request says ${prefix(target)}version: ${image.version}`,
    `requests seen: ${session.server
      .requests()
      .slice(offer.index)
      .map(
        (request) =>
          `${request.requestLine} → ${request.status} (version ${reportedVersion(target, request)})`,
      )
      .join('; ')}`,
  );
  await session.answered(after!, 'the 304 to the check after the reboot');
  await settled?.catch(() => undefined);
  return after!;
}

/**
 * One refused update: after installing a known image, serve `fault`, then check the device kept
 * running that image (no reboot, the next check still reports its version and MD5). `expectCode`
 * is the HTTPUpdate error the example sketch prints, when the reference fixes it.
 */
export async function refusesUpdate(
  context: Pick<RequirementContext, 'step' | 'check' | 'target'>,
  options: {
    what: string;
    fault: (image: PullImage) => ScriptedResponse;
    expectCode?: number;
    /** The line the sketch prints instead of a failure (304: HTTP_UPDATE_NO_UPDATES). */
    expectLine?: RegExp;
    /**
     * How long the device may take to report the refusal, when it is longer than one exchange
     * (a body cut short: the updater's own stream timeout, device-timeouts.ts).
     */
    resultWithinMs?: number;
  },
): Promise<void> {
  const { step, check, target } = context;
  await withPullSession(target, IDLE, async (session) => {
    const known = appImage(target);
    await install(context, session, known);
    const offered = appImage(target);
    const mark = consoleMark(target);
    const result = target.console
      ? watchConsole(target, RESULT_LINE, `the sketch reports the ${options.what}`, options.resultWithinMs)
      : undefined;
    const request = await step(`answer the check with ${options.what}`, () =>
      session.check(`check answered with ${options.what}`, [options.fault(offered), IDLE]),
    );
    await session.answered(request, `the ${options.what} is out`);
    if (result) {
      const line = await step('the sketch prints its result', () =>
        result.catch((error: Error) => error.message),
      );
      if (options.expectLine) {
        check(options.expectLine.test(line), `the sketch prints ${options.expectLine}`, line);
      } else if (options.expectCode !== undefined) {
        const code = FAILED_LINE.exec(line)?.[1];
        check(
          code === String(options.expectCode),
          `HTTP_UPDATE_FAILED with error ${options.expectCode}`,
          code === undefined ? line : `error ${code}: ${line}`,
        );
      } else {
        check(FAILED_LINE.test(line), 'HTTP_UPDATE_FAILED', line);
      }
    }
    await step('no reboot after the refused update', () =>
      expectNoReboot(target, mark, check, `after the ${options.what}`),
    );
    const handled = target.console
      ? watchConsole(target, /HTTP_UPDATE_NO_UPDATES/, 'the last 304 is handled')
      : undefined;
    const next = await step('the next check still reports the known image', () =>
      session.check('check after the refused update', IDLE),
    );
    check(
      reportedVersion(target, next) === known.version && reportedMd5(target, next) === md5(known.bytes),
      `version ${known.version}, sketch MD5 ${md5(known.bytes)} (the image before the ${options.what})`,
      `version ${reportedVersion(target, next)}, sketch MD5 ${reportedMd5(target, next)}`,
    );
    await session.answered(next, 'the 304 to the last check');
    // Leave the device idle for the next requirement: its result line must not be taken for theirs.
    await handled?.catch(() => undefined);
  });
}
