import { createHash } from 'node:crypto';
import type { Target } from '../../drivers/target/index.ts';
import { headerValue, type RecordedRequest } from '../../drivers/update-server/index.ts';
import { requirement } from '../framework/index.ts';
import { exactHeader, IDLE, install, md5, PULL_TRIGGER, prefix, sourceFor } from './http-update-kit.ts';
import { appImage, type PullImage, withPullSession } from './pull-kit.ts';

/** The headers each platform's client sends on every check (reference §3.1 / §3.2, in that order). */
function expectedNames(target: Target): string[] {
  const p = prefix(target);
  return target.platform === 'esp32'
    ? [
        'Host',
        'User-Agent',
        `${p}STA-MAC`,
        `${p}AP-MAC`,
        `${p}free-space`,
        `${p}sketch-size`,
        `${p}sketch-md5`,
        `${p}sketch-sha256`,
        `${p}chip-size`,
        `${p}sdk-version`,
        `${p}mode`,
        `${p}version`,
      ]
    : [
        'Host',
        'User-Agent',
        `${p}Chip-ID`,
        `${p}STA-MAC`,
        `${p}AP-MAC`,
        `${p}free-space`,
        `${p}sketch-size`,
        `${p}sketch-md5`,
        `${p}chip-size`,
        `${p}sdk-version`,
        `${p}mode`,
        `${p}version`,
      ];
}

/** ESP.getSketchSHA256(): the digest appended to an ESP32 image, upper-case hex. */
function sketchSha256(image: PullImage): string {
  const bytes = image.bytes;
  const appended = bytes[23] === 1;
  const digest = appended
    ? Buffer.from(bytes.subarray(bytes.length - 32)).toString('hex')
    : createHash('sha256').update(bytes).digest('hex');
  return digest.toUpperCase();
}

const roundUpToSector = (size: number) => Math.ceil(size / 4096) * 4096;

requirement(
  'http-update/request/1',
  'MUST',
  'the check is GET … HTTP/1.0 with the platform User-Agent and every x-ESP8266-*/x-ESP32-* header, the sketch MD5, size and version those of the running image',
  { ...PULL_TRIGGER, source: sourceFor('Request (header list and values); ESP32 §3.2 Request') },
  async ({ target, step, check }) => {
    await withPullSession(target, IDLE, async (session) => {
      const image = appImage(target);
      const request = await install({ step, check }, session, image);
      check(
        request.method === 'GET' && request.httpVersion === '1.0',
        'GET <path> HTTP/1.0',
        request.requestLine,
      );
      const agent = target.platform === 'esp32' ? 'ESP32-http-Update' : 'ESP8266-http-Update';
      check(
        exactHeader(request, 'User-Agent') === agent,
        `User-Agent: ${agent}`,
        `${headerValue(request, 'user-agent')}`,
      );
      const missing = expectedNames(target).filter((name) => exactHeader(request, name) === undefined);
      check(
        missing.length === 0,
        `headers ${expectedNames(target).join(', ')}`,
        `missing ${missing.join(', ')} in ${request.rawHeaderLines.join(' | ')}`,
      );
      const p = prefix(target);
      const values: [string, string | undefined, string][] = [
        [`${p}sketch-md5`, exactHeader(request, `${p}sketch-md5`), md5(image.bytes)],
        [`${p}sketch-size`, exactHeader(request, `${p}sketch-size`), String(image.bytes.length)],
        [`${p}version`, exactHeader(request, `${p}version`), image.version],
        [`${p}mode`, exactHeader(request, `${p}mode`), 'sketch'],
      ];
      if (target.platform === 'esp32')
        values.push([`${p}sketch-sha256`, exactHeader(request, `${p}sketch-sha256`), sketchSha256(image)]);
      for (const [name, actual, expected] of values)
        check(actual === expected, `${name}: ${expected}`, `${name}: ${actual}`);
      const mac = /^[0-9A-F]{2}(:[0-9A-F]{2}){5}$/;
      for (const name of [`${p}STA-MAC`, `${p}AP-MAC`])
        check(
          mac.test(exactHeader(request, name) ?? ''),
          `${name}: AA:BB:CC:DD:EE:FF (upper-case hex)`,
          `${exactHeader(request, name)}`,
        );
      const chipSize = Number(exactHeader(request, `${p}chip-size`));
      check(
        Number.isInteger(chipSize) && chipSize >= 512 * 1024,
        `${p}chip-size: the flash size in bytes`,
        `${exactHeader(request, `${p}chip-size`)}`,
      );
      if (target.platform !== 'esp32') {
        const chipId = exactHeader(request, `${p}Chip-ID`) ?? '';
        check(/^\d+$/.test(chipId), `${p}Chip-ID in decimal`, chipId);
      }
    });
  },
);

function freeSpace(target: Target, request: RecordedRequest): number {
  return Number(exactHeader(request, `${prefix(target)}free-space`));
}

requirement(
  'http-update/request/2',
  'MUST',
  'x-…-free-space is the free sketch space: ESP8266 the space below the FS less the running sketch (sector-rounded), ESP32 the next OTA slot',
  {
    ...PULL_TRIGGER,
    source: sourceFor('Request: x-ESP8266-free-space = ESP.getFreeSketchSpace(); §3.2 x-ESP32-free-space'),
  },
  async ({ target, step, check }) => {
    await withPullSession(target, IDLE, async (session) => {
      // Two sketches whose sizes differ by less than a sector: the free space must follow the rounding.
      const small = appImage(target, { size: 40 * 1024 + 16 });
      const large = appImage(target, { size: 56 * 1024 - 16 });
      const afterSmall = await install({ step, check }, session, small);
      const afterLarge = await install({ step, check }, session, large);
      const [freeSmall, freeLarge] = [freeSpace(target, afterSmall), freeSpace(target, afterLarge)];
      check(
        freeSmall > large.bytes.length && freeLarge > small.bytes.length,
        'a free space larger than the sketches that fit',
        `${freeSmall} with the small sketch, ${freeLarge} with the large one`,
      );
      if (target.platform === 'esp32') {
        check(
          freeSmall === freeLarge,
          'the same free space (the next OTA slot) whatever sketch runs',
          `${freeSmall} then ${freeLarge}`,
        );
      } else {
        const span = (free: number, image: PullImage) => free + roundUpToSector(image.bytes.length);
        check(
          span(freeSmall, small) === span(freeLarge, large),
          'free space + sketch size rounded up to 4 KiB is the same for both sketches (the sketch area)',
          `${freeSmall}+${roundUpToSector(small.bytes.length)} vs ${freeLarge}+${roundUpToSector(large.bytes.length)}`,
        );
      }
    });
  },
);
