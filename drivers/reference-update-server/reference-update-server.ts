import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureVersion, TLSSocket } from 'node:tls';
import { createTestCertificates } from '../update-server/index.ts';
import { watchBuilds } from './build-watch.ts';
import { ByteRate } from './byte-rate.ts';
import {
  type Catalogue,
  DEFAULT_FIRMWARE_ID,
  demoCatalogue,
  demoPlatformCatalogue,
  loadCatalogue,
  ReferenceServerError,
  type Release,
} from './catalogue.ts';
import { type ReferenceServerProfile, referenceServerDefects } from './defects.ts';
import { httpUpdateHandler } from './http-update-handler.ts';
import { imageHandler } from './image-handler.ts';
import { luaRtosHandler } from './lua-rtos-handler.ts';
import { deviceOf } from './rollout.ts';
import { connectRolloutTrigger, type RolloutTriggerOptions, triggerMessages } from './rollout-trigger.ts';
import type { Handler, ServeContext } from './serve-context.ts';

export interface ReferenceUpdateServerOptions {
  /**
   * Which clients it answers: ESP8266httpUpdate / ESP32 HTTPUpdate, Lua RTOS net.ota(), or
   * ESP-IDF esp_https_ota (a plain image server, as nginx is set up in the hosting guide).
   */
  profile: ReferenceServerProfile;
  /** A firmware folder (see loadCatalogue); absent: two demo releases per id. */
  directory?: string;
  host?: string;
  port?: number;
  /** HTTPS; Lua RTOS clients need `minVersion: 'TLSv1.1'`. */
  tls?: { key: string; cert: string; minVersion?: SecureVersion };
  /** The path HTTPUpdate and esp_https_ota clients ask for the newest image; default `/firmware.bin`. */
  path?: string;
  /** Staged rollout: the percentage of devices that get the newest release (default 100). */
  rolloutPercent?: number;
  /** Bandwidth limits in bytes per second: over all downloads, and per device. */
  limits?: { totalBytesPerSecond?: number; deviceBytesPerSecond?: number };
  /**
   * Publish a rollout trigger over MQTT whenever a new newest build appears in `directory`
   * (the hosting guide's build → upload → trigger); `publicUrl` is the address devices reach.
   */
  trigger?: RolloutTriggerOptions;
  /** The base URL devices use (a trigger names `<publicUrl>/<version>.bin`); default the listening URL. */
  publicUrl?: string;
  /** Told of every request once its answer is finished or abandoned. */
  onRequest?: (entry: ServedRequest) => void;
  /**
   * Deliberate non-conformances, by name from the profile's list in REFERENCE_SERVER_DEFECTS, so
   * the kill matrix can prove the role-2 suites catch them. An unknown name is an error.
   */
  defects?: readonly string[];
}

/** One line of the request log. */
export interface ServedRequest {
  /** ISO time the request arrived. */
  at: string;
  remote: string;
  /** The device it counts for (rollout, per-device limit): STA MAC, `device=` or the address. */
  device: string;
  method: string;
  path: string;
  status: number;
  /** Body bytes the answer carries (0 for 304, 403, HEAD…). */
  bodyBytes: number;
  /** false: the client went away before the answer was through. */
  complete: boolean;
  ms: number;
}

export interface StartedReferenceUpdateServer {
  readonly url: string;
  /**
   * What a role-2 suite must know to play a device: for http-update the path and the newest and
   * an older version; for luartos the firmware id and its newest and an older commit; for
   * esp-https-ota the path and the newest version.
   */
  readonly catalogue: Record<string, string>;
  /** Moves the staged rollout to `percent` of devices (0–100) without a restart. */
  setRolloutPercent(percent: number): void;
  stop(): Promise<void>;
}

/** Only TLS-level defects need the server to speak TLS. */
const TLS_DEFECTS = new Set(['requires-tls-1-2', 'requires-sni', 'wrong-certificate', 'redirects-to-http']);

/**
 * The harness' own update server, answering as the HTTPUpdate docs' server example, the Lua RTOS
 * OTA wiki and the hosting guide's nginx say (http-update-handler.ts, lua-rtos-handler.ts,
 * image-handler.ts), with the hosting guide's staged rollout and bandwidth limits. Built on
 * node:http, which writes header names in the case given. `defects` switches on the deliberate
 * non-conformances of REFERENCE_SERVER_DEFECTS (defects.ts).
 */
export async function startReferenceUpdateServer(
  options: ReferenceUpdateServerOptions,
): Promise<StartedReferenceUpdateServer> {
  const defects = checkDefects(options);
  let rolloutPercent = checkPercent(options.rolloutPercent ?? 100);
  const catalogue = options.directory ? await loadCatalogue(options.directory) : demoFor(options.profile);
  const path = options.path ?? '/firmware.bin';
  const total = options.limits?.totalBytesPerSecond;
  const totalRate = total === undefined ? undefined : new ByteRate(total);
  const perDevice = options.limits?.deviceBytesPerSecond;
  const deviceRates = new Map<string, { rate: ByteRate; downloads: number }>();
  const bodyBytes = new WeakMap<http.ServerResponse, number>();
  const context: ServeContext = {
    catalogue,
    path,
    defects,
    rolloutPercent: () => rolloutPercent,
    delivery: (device, response) => {
      const rates: ByteRate[] = totalRate ? [totalRate] : [];
      if (perDevice !== undefined) {
        const entry = deviceRates.get(device) ?? { rate: new ByteRate(perDevice), downloads: 0 };
        entry.downloads++;
        deviceRates.set(device, entry);
        rates.unshift(entry.rate);
        response.once('close', () => {
          if (--entry.downloads === 0) deviceRates.delete(device);
        });
      }
      return { rates, bodyBytes: (count) => bodyBytes.set(response, count) };
    },
  };
  const servers: (http.Server | https.Server)[] = [];
  const listen = async (server: http.Server | https.Server, port: number) => {
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) =>
        reject(
          new ReferenceServerError(
            'REFERENCE_SERVER_LISTEN',
            `cannot listen on ${host}:${port}: ${error.message}`,
            {
              cause: error,
            },
          ),
        ),
      );
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  };
  const host = options.host ?? '127.0.0.1';
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  let handler = logged(handlerFor(options.profile, context), options.onRequest, bodyBytes);
  let origin: string | undefined;
  if (defects.has('redirects-to-http')) {
    // The plain-HTTP origin the defective front end redirects to, serving the same images.
    const originPort = await listen(http.createServer(handler), 0);
    origin = `http://${hostInUrl}:${originPort}`;
    handler = logged(imageHandler(context, { insecureRedirectTo: origin }), options.onRequest, bodyBytes);
  }
  const tls =
    options.tls && defects.has('wrong-certificate') ? await foreignCertificate(options.tls) : options.tls;
  // The defect keeps the TLS library's own floor (TLS 1.2), whatever the rig asks for.
  const minVersion = defects.has('requires-tls-1-2') ? undefined : tls?.minVersion;
  const server = tls
    ? https.createServer(
        {
          key: tls.key,
          cert: tls.cert,
          ...(minVersion ? { minVersion } : {}),
          // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level.
          ...(minVersion === 'TLSv1' || minVersion === 'TLSv1.1' ? { ciphers: 'DEFAULT@SECLEVEL=0' } : {}),
        },
        handler,
      )
    : http.createServer(handler);
  if (defects.has('requires-sni')) {
    server.on('secureConnection', (socket: TLSSocket) => {
      if (!(socket as TLSSocket & { servername?: string | false }).servername) socket.destroy();
    });
  }
  let port: number;
  try {
    port = await listen(server, options.port ?? 0);
  } catch (error) {
    await closeAll(servers);
    throw error;
  }
  const url = `${tls ? 'https' : 'http'}://${hostInUrl}:${port}`;
  let rollouts: Awaited<ReturnType<typeof startRollouts>> | undefined;
  if (options.directory) {
    try {
      rollouts = await startRollouts(options, context, options.publicUrl ?? url);
    } catch (error) {
      await closeAll(servers);
      throw new ReferenceServerError(
        'REFERENCE_SERVER_TRIGGER',
        `cannot publish rollout triggers: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
  return {
    url,
    catalogue: describeCatalogue(options.profile, catalogue, path),
    setRolloutPercent: (percent) => {
      rolloutPercent = checkPercent(percent);
    },
    stop: async () => {
      await rollouts?.stop();
      await closeAll(servers);
    },
  };
}

/**
 * New builds in the folder are served without a restart, and with `trigger` announced over MQTT:
 * once per new newest release of the first firmware id, never for a removal or an older file.
 */
async function startRollouts(options: ReferenceUpdateServerOptions, context: ServeContext, baseUrl: string) {
  const { defects } = context;
  const publisher = options.trigger ? await connectRolloutTrigger(options.trigger) : undefined;
  const newestOf = (catalogue: Catalogue) => {
    const releases = catalogue.releases.get(DEFAULT_FIRMWARE_ID) ?? [...catalogue.releases.values()][0] ?? [];
    return { newest: releases.at(-1), previous: releases.at(-2) };
  };
  const known = new Set(releaseKeys(context.catalogue));
  const announce = async (release: Release, previous: Release | undefined) => {
    if (!publisher || !options.trigger) return;
    // The defect names the build before the new one: devices fetch what they already run.
    const named = defects.has('names-previous-build') && previous ? previous : release;
    const messages = triggerMessages(
      {
        dialect: options.trigger.dialect,
        ...(options.trigger.topic ? { topic: options.trigger.topic } : {}),
      },
      release,
      `${baseUrl}/${encodeURIComponent(named.version)}.bin`,
      defects.has('retained-trigger'),
    ).map((message) =>
      defects.has('json-trigger-on-switch-cmd') && message.topic === '/switch/cmd/root'
        ? { ...message, topic: '/switch/cmd' }
        : message,
    );
    await publisher.publish(messages).catch(() => {});
  };
  const watcher = watchBuilds(options.directory!, async (catalogue) => {
    context.catalogue = catalogue;
    const { newest, previous } = newestOf(catalogue);
    const fresh = newest !== undefined && !known.has(`${newest.version}@${newest.sha256}`);
    for (const key of releaseKeys(catalogue)) known.add(key);
    if (fresh && newest) await announce(newest, previous);
  });
  // The defect is a cron job: every 100 ms it repeats the trigger for the build that was newest
  // when it started, whether or not anything was built.
  const atStart = newestOf(context.catalogue);
  const timer =
    defects.has('triggers-on-a-timer') && atStart.newest
      ? setInterval(() => void announce(atStart.newest!, atStart.previous), 100)
      : undefined;
  return {
    stop: async () => {
      clearInterval(timer);
      watcher.close();
      await publisher?.close();
    },
  };
}

function releaseKeys(catalogue: Catalogue): string[] {
  return [...catalogue.releases.values()].flat().map((release) => `${release.version}@${release.sha256}`);
}

function handlerFor(profile: ReferenceServerProfile, context: ServeContext): Handler {
  if (profile === 'luartos') return luaRtosHandler(context);
  if (profile === 'esp-https-ota' || profile === 'mqtt-trigger') return imageHandler(context);
  return httpUpdateHandler(context);
}

function demoFor(profile: ReferenceServerProfile): Catalogue {
  if (profile === 'luartos') return demoCatalogue(['GENERIC-OTA']);
  if (profile === 'esp-https-ota' || profile === 'mqtt-trigger') return demoCatalogue([DEFAULT_FIRMWARE_ID]);
  return demoPlatformCatalogue();
}

/** Wraps a handler so every request is told to `onRequest` once its answer ends. */
function logged(
  handler: Handler,
  onRequest: ReferenceUpdateServerOptions['onRequest'],
  bodyBytes: WeakMap<http.ServerResponse, number>,
): Handler {
  if (!onRequest) return handler;
  return (request, response) => {
    const started = performance.now();
    const at = new Date().toISOString();
    const url = new URL(request.url ?? '/', 'http://server');
    response.once('close', () =>
      onRequest({
        at,
        remote: request.socket.remoteAddress ?? 'unknown',
        device: deviceOf(request, url),
        method: request.method ?? '',
        path: `${url.pathname}${url.search}`,
        status: response.statusCode,
        bodyBytes: bodyBytes.get(response) ?? 0,
        complete: response.writableFinished,
        ms: Math.round(performance.now() - started),
      }),
    );
    handler(request, response);
  };
}

/** The defect's certificate: a server certificate from a CA no device pins. */
async function foreignCertificate(tls: NonNullable<ReferenceUpdateServerOptions['tls']>) {
  const other = await createTestCertificates();
  return { ...tls, key: other.keyPem, cert: other.certPem };
}

async function closeAll(servers: readonly (http.Server | https.Server)[]): Promise<void> {
  await Promise.all(
    servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          if (!server.listening) return resolve();
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    ),
  );
}

function checkPercent(percent: number): number {
  if (!(percent >= 0 && percent <= 100)) {
    throw new ReferenceServerError(
      'REFERENCE_SERVER_ROLLOUT',
      `a rollout percentage is 0–100, got ${percent}`,
    );
  }
  return percent;
}

function checkDefects(options: ReferenceUpdateServerOptions): ReadonlySet<string> {
  const known = referenceServerDefects(options.profile).map((defect) => defect.name);
  for (const defect of options.defects ?? []) {
    if (!known.includes(defect)) {
      throw new ReferenceServerError(
        'REFERENCE_SERVER_DEFECT',
        `unknown defect '${defect}' for the ${options.profile} reference update server; known: ${known.join(', ')}`,
      );
    }
    if (TLS_DEFECTS.has(defect) && !options.tls) {
      throw new ReferenceServerError(
        'REFERENCE_SERVER_DEFECT',
        `defect '${defect}' is a TLS defect: start the ${options.profile} reference update server with tls`,
      );
    }
  }
  return new Set(options.defects ?? []);
}

function describeCatalogue(
  profile: ReferenceServerProfile,
  catalogue: Catalogue,
  path: string,
): Record<string, string> {
  const [id, releases] = [...catalogue.releases.entries()][0]!;
  const latest = releases.at(-1)!;
  const older = releases.length > 1 ? releases.at(-2)! : undefined;
  if (profile === 'luartos') {
    return { firmware: id, latestCommit: latest.version, ...(older ? { olderCommit: older.version } : {}) };
  }
  return {
    path,
    latestVersion: latest.version,
    latestMd5: latest.md5,
    ...(older ? { olderVersion: older.version } : {}),
  };
}
