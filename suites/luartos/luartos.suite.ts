import { luaBadArgs, luaNoUpdate, type ScriptedResponse } from '../../drivers/update-server/index.ts';
import { type RequirementContext, requirement } from '../framework/index.ts';
import {
  appImage,
  consoleMark,
  consoleSince,
  expectNoReboot,
  type PullImage,
  type PullSession,
  watchConsole,
  withPullSession,
} from '../http-update/pull-kit.ts';

const SOURCE = 'docs/protocols/viperhttp-luartos-mqtt.md §2';
type Context = Pick<RequirementContext, 'step' | 'check' | 'target'>;
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const NO_UPDATE = /No new firmware available/;

/** Lua RTOS reads only `Content-Type` and `Content-Length`, in that exact case (§2.3). */
function luaFirmware(image: Uint8Array, lowerCase = false): ScriptedResponse {
  return {
    status: 200,
    headers: lowerCase
      ? [
          ['content-type', 'application/octet-stream'],
          ['content-length', String(image.length)],
        ]
      : [
          ['Content-Type', 'application/octet-stream'],
          ['Content-Length', String(image.length)],
        ],
    body: image,
  };
}

/** Offers `image`, waits for the reboot into it and for the 471 its boot check gets. */
async function installLua(context: Context, session: PullSession, image: PullImage): Promise<void> {
  const { step, check, target } = context;
  const booted = watchConsole(
    target,
    new RegExp(`App version:\\s+${escapeRegExp(image.version)}\\s*$`),
    `boot ${image.version}`,
    15_000,
  );
  const idle = watchConsole(target, NO_UPDATE, 'the boot check is idle', 15_000);
  const mark = consoleMark(target);
  await step(`offer ${image.version} (200)`, () =>
    session.check(`check for ${image.version}`, [luaFirmware(image.bytes), luaNoUpdate()]),
  );
  const line = await booted.catch(() => undefined);
  check(
    line !== undefined,
    `net.ota() writes ${image.version}, restarts and boots it`,
    consoleSince(target, mark).slice(-6).join(' | '),
  );
  await idle.catch(() => undefined);
}

/** The device answers `answer` with `expected` on its console, does not restart, and still runs `known`. */
async function staysOn(
  context: Context,
  options: { what: string; answer: (image: PullImage) => ScriptedResponse; expected: RegExp },
) {
  const { step, check, target } = context;
  await withPullSession(target, luaNoUpdate(), async (session) => {
    const known = appImage(target);
    await installLua(context, session, known);
    const mark = consoleMark(target);
    const printed = watchConsole(target, options.expected, `net.ota() reports the ${options.what}`, 10_000);
    await step(`answer the check with ${options.what}`, () =>
      session.check(options.what, [options.answer(appImage(target)), luaNoUpdate()]),
    );
    // A timeout's message quotes the pattern itself, so only a console line may pass this check.
    const line = await printed.catch(() => undefined);
    check(
      line !== undefined && options.expected.test(line),
      `the console prints ${options.expected}`,
      line ?? (consoleSince(target, mark).slice(-4).join(' | ') || 'nothing'),
    );
    await step('no restart', () => expectNoReboot(target, mark, check, `after the ${options.what}`));
    check(
      !consoleSince(target, mark).some((text) => /App version:/.test(text)),
      `still ${known.version}: nothing booted`,
      consoleSince(target, mark)
        .filter((text) => /App version:/.test(text))
        .join(' | '),
    );
  });
}

requirement(
  'luartos/responses/1',
  'MUST',
  '471 prints "No new firmware available" and neither flashes nor restarts',
  { source: `${SOURCE}.3 (net.c 477-549)`, needs: ['console'] },
  async (context) => {
    await staysOn(context, {
      what: '471 carrying an image',
      answer: (image) => ({ ...luaFirmware(image.bytes), status: 471 }),
      expected: NO_UPDATE,
    });
  },
);

requirement(
  'luartos/responses/2',
  'MUST',
  '470 prints "Missing or bad arguments" and neither flashes nor restarts',
  { source: `${SOURCE}.3 (net.c 477-549)`, needs: ['console'] },
  async (context) => {
    await staysOn(context, { what: '470', answer: () => luaBadArgs(), expected: /Missing or bad arguments/ });
  },
);

requirement(
  'luartos/responses/3',
  'MUST',
  'an image that fails to write or verify is not booted and the chip does not restart',
  { source: `${SOURCE}.4 (esp_ota_write/esp_ota_end failures return without a restart)`, needs: ['console'] },
  async (context) => {
    await staysOn(context, {
      what: '200 with a corrupt image',
      answer: (image) => {
        const bytes = image.bytes.slice();
        bytes[0] = 0x00;
        return luaFirmware(bytes);
      },
      expected: /Chunk written unsuccessfully|Failed/,
    });
  },
);

requirement(
  'luartos/responses/4',
  'MUST',
  '200 with Content-Length 0 restarts the chip without an update',
  { source: `${SOURCE}.3 (200 and size == 0 → Restarting ...)`, needs: ['console'] },
  async (context) => {
    const { step, check, target } = context;
    await withPullSession(target, luaNoUpdate(), async (session) => {
      const known = appImage(target);
      await installLua(context, session, known);
      const booted = watchConsole(target, /App version:\s+(\S+)/, 'the restart', 10_000);
      const idle = watchConsole(target, NO_UPDATE, 'the boot check is idle', 15_000);
      await step('answer 200 with Content-Length: 0', () =>
        session.check('empty 200', [
          {
            status: 200,
            headers: [
              ['Content-Type', 'application/octet-stream'],
              ['Content-Length', '0'],
            ],
          },
          luaNoUpdate(),
        ]),
      );
      const line = await booted.catch((error: Error) => error.message);
      check(line.endsWith(known.version), `a restart into the same image ${known.version}`, line);
      await idle.catch(() => undefined);
    });
  },
);

requirement(
  'luartos/responses/5',
  'MUST',
  '200 with an image is written to the next slot and booted; an image announced with lower-case content-length is not',
  { source: `${SOURCE}.3 (case-sensitive strcmp of header names), §2.4`, needs: ['console'] },
  async (context) => {
    await withPullSession(context.target, luaNoUpdate(), async (session) => {
      await installLua(context, session, appImage(context.target));
      await installLua(context, session, appImage(context.target));
    });
    // The real client never reads a lower-case content-length (its size stays garbage); the
    // emulated one takes 0 and restarts. Either way the offered image must not boot.
    const { step, check, target } = context;
    await withPullSession(target, luaNoUpdate(), async (session) => {
      const offered = appImage(target);
      const mark = consoleMark(target);
      const restarted = watchConsole(target, /App version:/, 'a restart after the lower-case headers', 5_000);
      const idle = watchConsole(target, NO_UPDATE, 'the boot check is idle', 5_000);
      await step('answer 200 with lower-case content-type/content-length', () =>
        session.check('lower-case headers', [luaFirmware(offered.bytes, true), luaNoUpdate()]),
      );
      await restarted.catch(() => undefined);
      await idle.catch(() => undefined);
      const booted = consoleSince(target, mark).filter((text) => /App version:/.test(text));
      check(
        !booted.some((text) => text.includes(offered.version)),
        `${offered.version} is not booted (header names are compared case-sensitively)`,
        booted.join(' | '),
      );
    });
  },
);

requirement(
  'luartos/request/1',
  'MUST',
  'the check is exactly GET /?firmware=<id>&commit=<commit> HTTP/1.1 with only "Host: <server>:<port> " (trailing space), over TLS 1.1 without SNI',
  { source: `${SOURCE}.2 (net_http.c 56, net.c 463-470)`, needs: ['tls'] },
  async ({ target, step, check }) => {
    await withPullSession(target, luaNoUpdate(), async (session) => {
      const request = await step('trigger a check', () => session.check('check', luaNoUpdate()));
      check(
        /^GET \/\?firmware=[A-Za-z0-9-]+&commit=[0-9a-f]{40} HTTP\/1\.1$/.test(request.requestLine),
        'GET /?firmware=<id>&commit=<40 hex> HTTP/1.1',
        request.requestLine,
      );
      const server = String(
        target.description.options?.server ?? target.description.updateServer?.host ?? '',
      );
      const port = Number(target.description.options?.port ?? 443);
      check(
        request.rawHeaderLines.length === 1 && request.rawHeaderLines[0] === `Host: ${server}:${port} `,
        `one header line, "Host: ${server}:${port} "`,
        JSON.stringify(request.rawHeaderLines),
      );
      check(
        request.tls?.protocol === 'TLSv1.1' && request.tls.servername === false,
        'TLSv1.1, no SNI',
        `${request.tls?.protocol}, SNI ${String(request.tls?.servername)}`,
      );
    });
  },
);
