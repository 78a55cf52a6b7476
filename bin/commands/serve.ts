import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import type {
  ReferenceUpdateServerOptions,
  ServedRequest,
  TriggerDialect,
} from '../../drivers/reference-update-server/index.ts';

export class ServeUsageError extends Error {
  readonly code = 'SERVE_USAGE';
}

interface ServeFlags {
  profile: 'http-update' | 'esp-https-ota' | 'luartos' | 'mqtt-trigger';
  host: string;
  port: string;
  path: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsMinVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  rollout: string;
  rateLimit?: string;
  deviceRateLimit?: string;
  log: 'text' | 'json';
  publicUrl?: string;
  mqttBroker?: string;
  mqttDialect?: TriggerDialect;
  mqttTopic?: string;
}

/**
 * `ota-conformance serve <folder>`: the reference update server for real devices, set up the way
 * seeds/ota-firmware-hosting-guide.md recommends: versioned images kept side by side, a staged
 * rollout, total and per-device bandwidth limits, Range, TLS; new builds dropped into the folder
 * are served without a restart and, with --mqtt-broker, announced in the devices' dialect. Prints
 * `{"serve":{url,profile,…}}` as one line once it listens, then one line per request, and runs
 * until SIGINT/SIGTERM.
 */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description(
      'Serve a folder of firmware images to devices (version-targeted, staged rollout, bandwidth limits)',
    )
    .argument(
      '<folder>',
      'images: <folder>/<version>.bin, <folder>/<firmware-id>/<version>.bin; a "latest" file names the newest',
    )
    .addOption(
      new Option('--profile <profile>', 'which clients it answers')
        .choices(['http-update', 'esp-https-ota', 'luartos', 'mqtt-trigger'])
        .default('esp-https-ota'),
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', '0')
    .option('--path <path>', 'where devices ask for the newest image', '/firmware.bin')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)')
    .option('--tls-key <file>', 'the certificate’s private key (PEM)')
    .addOption(
      new Option('--tls-min-version <version>', 'lowest TLS version (Lua RTOS needs TLSv1.1)').choices([
        'TLSv1',
        'TLSv1.1',
        'TLSv1.2',
        'TLSv1.3',
      ]),
    )
    .option(
      '--rollout <percent>',
      'percentage of devices that get the newest release; the rest get the one before',
      '100',
    )
    .option('--rate-limit <rate>', 'total bandwidth over all downloads, bytes/s (suffix k or M: 512k, 2M)')
    .option('--device-rate-limit <rate>', 'bandwidth per device, bytes/s (suffix k or M)')
    .addOption(new Option('--log <format>', 'request log format').choices(['text', 'json']).default('text'))
    .option('--public-url <url>', 'the base URL devices reach this server at (named in triggers)')
    .option('--mqtt-broker <url>', 'announce each new build in the folder on this broker (mqtt://host:port)')
    .addOption(
      new Option('--mqtt-dialect <dialect>', 'the trigger convention the devices follow').choices([
        'buttons-json',
        'buttons-u',
        'tasmota',
        'homie',
      ]),
    )
    .option('--mqtt-topic <topic>', 'buttons-u command topic, Tasmota device topic or Homie device id')
    .action(async (folder: string, flags: ServeFlags) => {
      const options = serveOptionsFrom(folder, flags);
      const { startReferenceUpdateServer } = await import('../../drivers/reference-update-server/index.ts');
      const server = await startReferenceUpdateServer({
        ...options,
        onRequest: (entry) => process.stdout.write(`${formatRequest(entry, flags.log)}\n`),
      });
      process.stdout.write(
        `${JSON.stringify({
          serve: {
            url: server.url,
            profile: options.profile,
            folder,
            path: options.path,
            rolloutPercent: options.rolloutPercent,
            ...(options.limits ? { limits: options.limits } : {}),
            newest: server.catalogue,
            pid: process.pid,
          },
        })}\n`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.stop();
    });
}

/** Turns the command line into server options; every mistake names the flag. */
export function serveOptionsFrom(folder: string, flags: ServeFlags): ReferenceUpdateServerOptions {
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ServeUsageError(`--port: expected 0–65535, got '${flags.port}'`);
  }
  const rollout = Number(flags.rollout);
  if (!(rollout >= 0 && rollout <= 100)) {
    throw new ServeUsageError(`--rollout: expected a percentage 0–100, got '${flags.rollout}'`);
  }
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw new ServeUsageError('--tls-cert and --tls-key go together');
  }
  const limits: NonNullable<ReferenceUpdateServerOptions['limits']> = {};
  if (flags.rateLimit !== undefined) limits.totalBytesPerSecond = parseRate('--rate-limit', flags.rateLimit);
  if (flags.deviceRateLimit !== undefined)
    limits.deviceBytesPerSecond = parseRate('--device-rate-limit', flags.deviceRateLimit);
  if ((flags.mqttBroker === undefined) !== (flags.mqttDialect === undefined)) {
    throw new ServeUsageError('--mqtt-broker and --mqtt-dialect go together');
  }
  if (flags.publicUrl !== undefined && !/^https?:\/\/[^/]+$/.test(flags.publicUrl)) {
    throw new ServeUsageError(
      `--public-url: expected http(s)://host[:port] with no path, got '${flags.publicUrl}'`,
    );
  }
  return {
    profile: flags.profile,
    directory: folder,
    ...(flags.publicUrl ? { publicUrl: flags.publicUrl } : {}),
    ...(flags.mqttBroker && flags.mqttDialect
      ? {
          trigger: {
            brokerUrl: flags.mqttBroker,
            dialect: flags.mqttDialect,
            ...(flags.mqttTopic ? { topic: flags.mqttTopic } : {}),
          },
        }
      : {}),
    host: flags.host,
    port,
    path: flags.path,
    rolloutPercent: rollout,
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
    ...(flags.tlsCert && flags.tlsKey
      ? {
          tls: {
            cert: readPem('--tls-cert', flags.tlsCert),
            key: readPem('--tls-key', flags.tlsKey),
            ...(flags.tlsMinVersion ? { minVersion: flags.tlsMinVersion } : {}),
          },
        }
      : {}),
  };
}

/** `2M` → 2 097 152, `512k` → 524 288, `1000` → 1000 bytes per second. */
export function parseRate(flag: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(value.trim());
  const scale = { '': 1, k: 1024, m: 1024 * 1024 }[match?.[2]?.toLowerCase() ?? ''];
  const rate = match && scale ? Math.round(Number(match[1]) * scale) : Number.NaN;
  if (!(rate > 0))
    throw new ServeUsageError(`${flag}: expected bytes per second such as 2M or 512k, got '${value}'`);
  return rate;
}

function readPem(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ServeUsageError(`${flag}: cannot read ${file}: ${(error as Error).message}`);
  }
}

export function formatRequest(entry: ServedRequest, format: 'text' | 'json'): string {
  if (format === 'json') return JSON.stringify(entry);
  return [
    entry.at,
    entry.remote,
    entry.device,
    entry.method,
    entry.path,
    entry.status,
    `${entry.bodyBytes}B`,
    `${entry.ms}ms`,
    ...(entry.complete ? [] : ['aborted']),
  ].join(' ');
}
