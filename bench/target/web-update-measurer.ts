import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WebUpdateClient } from '../../drivers/http/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import { type BenchClient, BenchUsageError, type Measurer, type RunSample, withCpu } from './measurer.ts';
import { RebootWatch } from './reboot-watch.ts';

const run = promisify(execFile);
const SUCCESS = /Update Success/i;

/** curl's own version line, or why there is no curl. */
async function findCurl(): Promise<{ version: string } | { missing: string }> {
  try {
    const { stdout } = await run('curl', ['--version']);
    return { version: stdout.split('\n')[0] ?? 'curl' };
  } catch (error) {
    return { missing: `curl is not installed (${(error as Error).message.split('\n')[0]})` };
  }
}

/**
 * web-update: one multipart POST of the image to `/update` (reference arduino-ota.md §2.1), so a
 * single stream, no chunk size. `seconds` is the request to the device's `Update Success!`; the
 * device then restarts by itself, and `reboot` runs from that answer to the boot that names the
 * new version (which is also how the run is verified: the form reports no digest). Both clients
 * send Basic credentials up front, which both HTTPUpdateServers accept.
 */
export async function webUpdateMeasurer(
  target: Target,
  versionOf: (image: Uint8Array) => string,
): Promise<Measurer> {
  const url = target.description.url;
  if (url === undefined)
    throw new BenchUsageError(`target ${target.name}: the rig gives no "url" for its /update page`);
  const { username, password } = target.description;
  const workDir = await mkdtemp(join(tmpdir(), 'ota-bench-web-'));
  const curl = await findCurl();

  const harness: BenchClient = {
    name: 'harness',
    chunkFor: (size) => size,
    run: (image) =>
      withCpu(async () => {
        const client = new WebUpdateClient({
          baseUrl: url,
          targetName: target.name,
          ...(username === undefined ? {} : { username }),
          ...(password === undefined ? {} : { password }),
          auth: 'basic',
          timeouts: { stepMs: target.stepTimeoutMs * 6 },
          redact: (text) => target.redactor.redact(text),
        });
        const watch = RebootWatch.start(target);
        try {
          // Timed like curl's time_total (below): from the connect to the answer's last byte, both
          // ends as the client saw them on the wire. curl's clock starts once the tool has set up
          // the transfer (its -F form included) and stops inside the transfer, so the harness's
          // starts where its upload reaches the network, after the multipart body and the head are
          // built, and stops when the answer is complete, before its headers are parsed for the
          // caller; Basic credentials need no challenge round trip before it.
          const answer = await client.upload(image);
          if (answer.outcome !== 'answered' || answer.status !== 200 || !SUCCESS.test(answer.body))
            throw new Error(
              `target ${target.name}: the upload of ${image.length} bytes was not taken: ${
                answer.outcome === 'answered'
                  ? `HTTP ${answer.status}, ${JSON.stringify(answer.body.slice(0, 200))}`
                  : answer.detail
              }`,
            );
          const sample = await rebooted(watch, image, versionOf, answer.wireStartedAt, answer.answeredAt);
          return answer.connectedAt === undefined
            ? sample
            : {
                ...sample,
                phases: { ...sample.phases, connect: (answer.connectedAt - answer.wireStartedAt) / 1000 },
              };
        } finally {
          watch.stop();
          await client.destroy();
        }
      }),
  };

  const curlClient: BenchClient = {
    name: 'curl',
    ...('missing' in curl ? { unavailable: curl.missing } : {}),
    chunkFor: (size) => size,
    run: async (image) => {
      const imagePath = join(workDir, 'firmware.bin');
      await writeFile(imagePath, image);
      const watch = RebootWatch.start(target);
      try {
        const args = ['-sS', '--max-time', String(Math.ceil((target.stepTimeoutMs * 6) / 1000))];
        if (username !== undefined && password !== undefined)
          args.push('--basic', '-u', `${username}:${password}`);
        // curl's time_total runs from the start of the transfer (connect included) to the answer's last
        // byte, so its process start-up is not counted, as the harness's is not.
        args.push(
          '-F',
          `firmware=@${imagePath};filename=firmware.bin`,
          '-w',
          '\\n%{time_connect} %{time_total}',
          `${url.replace(/\/$/, '')}/update`,
        );
        const started = performance.now();
        const { stdout } = await run('curl', args);
        const answered = performance.now();
        const lines = stdout.trimEnd().split('\n');
        const [timeConnect, timeTotal] = (lines.pop() ?? '').split(' ').map(Number);
        if (!SUCCESS.test(lines.join('\n')))
          throw new Error(`curl: the device did not report success: ${lines.join(' ').slice(0, 200)}`);
        const sample = await rebooted(watch, image, versionOf, started, answered);
        return {
          ...sample,
          seconds: timeTotal!,
          // curl's own clock, not this process's (which counts curl starting up).
          phases: { ...sample.phases, connect: timeConnect!, transfer: timeTotal! },
        };
      } finally {
        watch.stop();
      }
    },
  };

  return {
    target,
    sizeUnit: 'stream',
    sizes: () => [0],
    clients: [harness, curlClient],
    close: () => rm(workDir, { recursive: true, force: true }),
  };
}

async function rebooted(
  watch: RebootWatch,
  image: Uint8Array,
  versionOf: (image: Uint8Array) => string,
  started: number,
  answered: number,
): Promise<RunSample> {
  const version = versionOf(image);
  const bootedAt = await watch.booted(version);
  return {
    seconds: (answered - started) / 1000,
    bytes: image.length,
    phases: { transfer: (answered - started) / 1000, reboot: (bootedAt - answered) / 1000 },
    verifiedBy: `boots ${version}`,
  };
}
