import { createServer, Socket } from 'node:net';
import { ViperHttpClient, WebUpdateClient } from '../../../drivers/http/index.ts';
import { DEADLINE_PASSED, oneExchange } from '../../../drivers/http/one-exchange.ts';
import type { Target, TargetDescription } from '../../../drivers/target/index.ts';
import { espotaUploaderFor } from '../../framework/strategy/espota-uploader.ts';
import { type PreflightStep, WrongDeviceError } from './preflight.ts';

/*
 * How each profile's device is recognised before its suites run: one harmless exchange that only
 * that kind of device answers the way it does. Each proves the endpoint answers and that it is the
 * device the profile speaks to (a wrong address where another HTTP server answers is a rig error,
 * not 26 MUST failures). Pull devices have no endpoint to ask; for them the harness checks its own
 * side: the update server's address can be bound and the broker answers.
 */
export function fingerprintsFor(description: TargetDescription): PreflightStep[] {
  if (description.kind === 'update-server') return [serverUnderTestAnswers()];
  const steps: PreflightStep[] = [];
  switch (description.profile) {
    case 'viperhttp':
      steps.push(viperStatus());
      break;
    case 'viperhttp-doc':
      steps.push(docStatus());
      break;
    case 'web-update':
      steps.push(webUpdateForm());
      break;
    case 'arduino-ota':
      steps.push(espotaInvitation());
      break;
  }
  const where = description.updateServer;
  if (where?.port !== undefined && where.port !== 0) steps.push(updateServerBinds(where.host, where.port));
  if (description.mqtt?.brokerUrl) steps.push(brokerAnswers(description.mqtt.brokerUrl));
  return steps;
}

function urlOf(target: Target): string {
  const url = target.description.url;
  if (url === undefined) throw new WrongDeviceError(`target ${target.name}: the rig gives no url`);
  return url;
}

/** ViperHTTP's `GET /ota/status` (reference viperhttp-luartos-mqtt.md §1.7, `_status_snapshot`). */
function viperStatus(): PreflightStep {
  return {
    name: 'GET /ota/status answers with the ViperHTTP status',
    run: async (target) => {
      const client = viperClient(target, 'viperhttp');
      try {
        const status = await client.status('preflight status').catch((error: unknown) => {
          throw asWrongDevice(error, 'a ViperHTTP device');
        });
        const shaped =
          typeof status === 'object' &&
          status !== null &&
          typeof status.supported === 'boolean' &&
          'running_partition' in status &&
          'next_update_partition' in status &&
          'session' in status;
        if (!shaped) {
          throw new WrongDeviceError(
            `target ${target.name}: not a ViperHTTP device: the status lacks supported/running_partition/next_update_partition/session (§1.7): ${brief(status)}`,
          );
        }
      } finally {
        // Not close(): that waits for a request in flight, and a silent device never ends one.
        await client.destroy();
      }
    },
  };
}

/** The seed dialect's status route answers JSON with the Bearer token (seeds/viperhttp-ota.md). */
function docStatus(): PreflightStep {
  return {
    name: 'GET /ota/status answers JSON with the Bearer token',
    run: async (target) => {
      const client = viperClient(target, 'viperhttp-doc');
      try {
        const status = await client.status('preflight status').catch((error: unknown) => {
          // A 401/403 is a ViperHTTP device refusing the seed's Bearer token: which header it wants
          // is the disagreement the viperhttp-doc/auth requirements report (DESIGN.md: the doc suites
          // against a `viperhttp` device must report exactly those), not a rig error.
          const code = (error as { status?: unknown }).status;
          if (code === 401 || code === 403) return undefined;
          throw asWrongDevice(error, 'a viperhttp-doc device');
        });
        if (status === undefined) return;
        if (typeof status !== 'object' || status === null || Array.isArray(status)) {
          throw new WrongDeviceError(
            `target ${target.name}: not a viperhttp-doc device: the status is not a JSON object: ${brief(status)}`,
          );
        }
      } finally {
        // Not close(): that waits for a request in flight, and a silent device never ends one.
        await client.destroy();
      }
    },
  };
}

/**
 * An HTTP answer that is not the profile's (a 404 page, a redirect, a 500) means something else
 * answers at the address: said as a wrong device, with what it answered. A refused or silent
 * address is left as the driver says it.
 */
function asWrongDevice(error: unknown, what: string): unknown {
  const status = (error as { status?: unknown }).status;
  if (typeof status !== 'number' || status === 401 || status === 403) return error;
  return new WrongDeviceError(`not ${what}: ${(error as Error).message}`, { cause: error });
}

function viperClient(target: Target, dialect: 'viperhttp' | 'viperhttp-doc'): ViperHttpClient {
  const token = target.description.token;
  return new ViperHttpClient({
    baseUrl: urlOf(target),
    targetName: target.name,
    dialect,
    ...(token === undefined ? {} : { token }),
    timeouts: { stepMs: target.stepTimeoutMs },
    redact: (text) => target.redactor.redact(text),
  });
}

/**
 * The HTTPUpdateServer page: a multipart upload form (reference arduino-ota.md §2.1). Which fields
 * it has is web-update/form/1's to judge, not the preflight's: the fingerprint only tells an
 * upload page from any other web server.
 */
function webUpdateForm(): PreflightStep {
  return {
    name: 'GET /update answers with the upload form',
    run: async (target) => {
      const { username, password } = target.description;
      const client = new WebUpdateClient({
        baseUrl: urlOf(target),
        targetName: target.name,
        ...(username !== undefined && password !== undefined ? { username, password } : {}),
        timeouts: { stepMs: target.stepTimeoutMs },
        redact: (text) => target.redactor.redact(text),
      });
      const page = await client.page().finally(() => client.destroy());
      const form = /multipart\/form-data/i.test(page.body) && /type=['"]?file\b/i.test(page.body);
      if (page.status !== 200 || !form) {
        throw new WrongDeviceError(
          `target ${target.name}: not an HTTPUpdateServer: GET ${client.path} answered ${page.status} without a multipart upload form: ${brief(page.body)}`,
        );
      }
    },
  };
}

/**
 * An espota invitation (reference arduino-ota.md §1.2–1.3): the device answers `OK`, or `AUTH
 * <nonce>` when it has a password. With a password the rig's one is checked too (a wrong password
 * is the rig's error). The device's connect-back is accepted and closed at once, so it gives the
 * (empty) upload up and is idle again; the suites restart it before each requirement anyway.
 */
function espotaInvitation(): PreflightStep {
  return {
    name: 'an espota invitation gets OK or AUTH',
    run: async (target) => {
      const { password } = target.description;
      const stepMs = target.stepTimeoutMs;
      const uploader = espotaUploaderFor(target, { timeouts: { resultMs: stepMs } });
      const listener = await uploader.listen();
      try {
        // Any 32 hex digits: nothing is sent, so the MD5 is never checked.
        const md5 = '0'.repeat(32);
        let reply = await uploader.invite({ listenPort: listener.port, size: 4096, md5 });
        if (reply.kind === 'auth') {
          if (!password) {
            throw new WrongDeviceError(
              `target ${target.name}: the device asks for a password (AUTH) and the rig gives none`,
            );
          }
          reply = await uploader.authenticate(reply.nonce, password, 'auto');
          if (reply.kind === 'auth-failed') {
            throw new WrongDeviceError(`target ${target.name}: the device refuses the rig's password`);
          }
        }
        if (reply.kind !== 'ok') {
          throw new WrongDeviceError(
            `target ${target.name}: not an ArduinoOTA device: the invitation got ${JSON.stringify(reply.text)}, not OK or AUTH <nonce>`,
          );
        }
        const socket = await listener.accept(stepMs).catch(() => undefined);
        socket?.destroy();
      } finally {
        await listener.close();
        await uploader.close();
      }
    },
  };
}

/** The address the device pulls from is free for the harness' update server to bind. */
function updateServerBinds(host = '127.0.0.1', port: number): PreflightStep {
  return {
    name: `the update server address ${host}:${port} can be bound`,
    run: async () => {
      // A device that checks for an update right now (at boot) is refused at once, as by a closed
      // port, rather than left on an accepted connection that nobody answers until its timeout.
      const server = createServer((socket) => socket.destroy());
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, host, () => resolve());
        });
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}

/** The broker the device and the harness meet at accepts a TCP connection. */
function brokerAnswers(brokerUrl: string): PreflightStep {
  return {
    name: `the MQTT broker ${redactUserInfo(brokerUrl)} answers`,
    run: async (target) => {
      const url = new URL(brokerUrl);
      const port = Number(url.port || (url.protocol === 'mqtts:' || url.protocol === 'tls:' ? 8883 : 1883));
      await tcpConnects(url.hostname.replace(/^\[|\]$/g, ''), port, target.stepTimeoutMs);
    },
  };
}

/**
 * A server under test is there: plain HTTP answers a GET; over https the port accepts a
 * connection. How its TLS treats a device (the version it accepts, SNI, the certificate) is what
 * the requirements judge (update-server/luartos/4, esp-https-ota/10), so a server that refuses the
 * device's handshake fails them instead of turning into a rig error here.
 */
function serverUnderTestAnswers(): PreflightStep {
  return {
    name: 'the update server answers',
    run: async (target) => {
      const url = new URL(urlOf(target));
      if (url.protocol === 'https:') {
        await tcpConnects(
          url.hostname.replace(/^\[|\]$/g, ''),
          Number(url.port || 443),
          target.stepTimeoutMs,
        );
        return;
      }
      await httpAnswers(url, target.stepTimeoutMs);
    },
  };
}

/** A GET of `url` is answered, with any status, and its answer read to the end within `timeoutMs`. */
async function httpAnswers(url: URL, timeoutMs: number): Promise<void> {
  const where = redactUserInfo(url.href);
  try {
    await oneExchange({
      secure: false,
      url,
      options: { method: 'GET', agent: false, headers: { connection: 'close' } },
      timeoutMs,
      maxBodyBytes: 0,
      keepBody: () => false,
    }).answered;
  } catch (error) {
    throw error === DEADLINE_PASSED
      ? new Error(`no complete HTTP answer from ${where} within ${timeoutMs} ms`)
      : new Error(`GET ${where}: ${(error as Error).message}`);
  }
}

function tcpConnects(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TCP answer from ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(`cannot connect to ${host}:${port}: ${error.message}`));
    });
    socket.connect(port, host);
  });
}

function redactUserInfo(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}

function brief(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return (text ?? String(value)).replace(/\s+/g, ' ').slice(0, 160);
}
