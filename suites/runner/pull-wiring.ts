import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedBroker } from '../../drivers/mqtt/index.ts';
import {
  type ReferenceServerProfile,
  type StartedReferenceUpdateServer,
  startReferenceUpdateServer,
  type TriggerDialect,
} from '../../drivers/reference-update-server/index.ts';
import type { TargetDescription } from '../../drivers/target/index.ts';
import { createTestCertificates, type TestCertificates } from '../../drivers/update-server/index.ts';
import type { EmulatorOptions } from '../../emulators/index.ts';
import { buildEsp32Image } from '../../fixtures/index.ts';
import type { ResolvedTarget } from '../../rigs/index.ts';

type EmulatorTarget = Extract<ResolvedTarget, { kind: 'emulator' | 'emulator-process' }>;
type UpdateServerTarget = Extract<ResolvedTarget, { kind: 'update-server' }>;

/** What a pull-profile emulator needs beyond its update URL, and what the suites' server must present. */
export interface PullWiring {
  /** Device settings the emulator is built with (the chip features the target claims). */
  emulator: Pick<EmulatorOptions, 'esp32'>;
  /** Merged into the description's `updateServer`: the certificate the suites' server presents. */
  updateServer: Pick<NonNullable<TargetDescription['updateServer']>, 'tls'>;
}

/**
 * The run starts every emulator before any suite's update server exists, so a device must be told
 * where the server will be. One CA and server certificate serve every HTTPS device of a process:
 * openssl takes a few hundred milliseconds, and a throw-away test CA protects nothing.
 */
let certificates: Promise<TestCertificates> | undefined;
function testCertificates(): Promise<TestCertificates> {
  certificates ??= createTestCertificates().catch((error: unknown) => {
    certificates = undefined;
    throw error;
  });
  return certificates;
}

/** Each pull image is tens of KiB: a 16 KiB request size makes every download a few Range requests. */
const PARTIAL_REQUEST_SIZE = 16 * 1024;

/**
 * Completes a pull-profile emulator's firmware options in place (`updateUrl` is already the
 * harness' plain-HTTP address) and says what the suites' update server must present:
 * - esp-https-ota: HTTPS with a CA the device trusts; Range downloads when the target claims
 *   `range`; images left unconfirmed until `ota mark-valid` when it claims `rollback`, so a
 *   suite can see the bootloader roll back; anti-rollback on the chip when claimed; short
 *   receive timeout and restart delay so a stalled server and a restart show within a second.
 * - luartos: `server`/`port` are where net.ota() connects; it speaks TLS 1.1 only.
 * Other profiles are left as they are.
 */
export async function wirePullEmulator(
  target: EmulatorTarget,
  firmwareOptions: Record<string, unknown>,
  host: string,
  port: number | undefined,
): Promise<PullWiring> {
  const wiring: PullWiring = { emulator: {}, updateServer: {} };
  if (port === undefined) return wiring;
  const claims = (capability: string) => (target.capabilities as readonly string[]).includes(capability);
  if (target.profile === 'esp-https-ota') {
    const { caPem, certPem, keyPem } = await testCertificates();
    firmwareOptions.updateUrl = `https://${host}:${port}/firmware.bin`;
    firmwareOptions.caPem ??= caPem;
    firmwareOptions.partialHttpDownload ??= claims('range');
    firmwareOptions.partialHttpDownloadSize ??= PARTIAL_REQUEST_SIZE;
    if (claims('rollback')) firmwareOptions.markValid ??= 'on-request';
    firmwareOptions.timeoutMs ??= 1000;
    firmwareOptions.restartDelayMs ??= 100;
    wiring.emulator.esp32 = {
      chip: { rollback: claims('rollback'), antiRollback: claims('anti-rollback') },
    };
    wiring.updateServer.tls = { certPem, keyPem, caPem };
  } else if (target.profile === 'luartos') {
    const { caPem, certPem, keyPem } = await testCertificates();
    firmwareOptions.server ??= host;
    firmwareOptions.port ??= port;
    firmwareOptions.receiveTimeoutMs ??= 2000;
    wiring.updateServer.tls = { certPem, keyPem, caPem, minVersion: target.tls?.minVersion ?? 'TLSv1.1' };
  }
  return wiring;
}

/**
 * Role 2 of DESIGN.md with the harness' own server under test: starts the reference update server
 * for an `update-server` target with `embedded: true` and describes it by its URL, as a vendor's
 * server would be. Lua RTOS servers speak HTTPS (TLS 1.1), esp_https_ota image servers HTTPS with
 * the test CA as the pinned certificate; HTTPUpdate servers plain HTTP. The rig's
 * `defects` start it with deliberate non-conformances (the kill matrix); an unknown one is an error.
 */
export async function startEmbeddedUpdateServer(
  target: UpdateServerTarget,
  lockDir: string,
): Promise<{ description: TargetDescription; stop(): Promise<void> }> {
  const profile = referenceProfileOf(target.profile);
  if (profile === 'mqtt-trigger') return await startEmbeddedRolloutServer(target, lockDir);
  const certificates = profile === 'http-update' ? undefined : await testCertificates();
  const minVersion = profile === 'luartos' ? (target.tls?.minVersion ?? 'TLSv1.1') : target.tls?.minVersion;
  const server: StartedReferenceUpdateServer = await startReferenceUpdateServer({
    profile,
    ...(certificates
      ? {
          tls: {
            key: certificates.keyPem,
            cert: certificates.certPem,
            ...(minVersion ? { minVersion } : {}),
          },
        }
      : {}),
    ...(target.defects ? { defects: target.defects } : {}),
  });
  // An esp_https_ota server is judged against the certificate its devices pin: the test CA.
  let tls = target.tls;
  if (profile === 'esp-https-ota' && certificates) {
    mkdirSync(lockDir, { recursive: true });
    const caFile = join(lockDir, `${target.name}-ca.pem`);
    writeFileSync(caFile, certificates.caPem);
    tls = { ...target.tls, caFile };
  }
  const description = embeddedServerDescription(target, lockDir, server.url, server.catalogue, tls);
  return { description, stop: () => server.stop() };
}

/** An embedded server described as a vendor's would be: by its URL, with what it publishes in `options`. */
function embeddedServerDescription(
  target: UpdateServerTarget,
  lockDir: string,
  url: string,
  publishes: Record<string, unknown>,
  tls = target.tls,
): TargetDescription {
  return {
    name: target.name,
    profile: target.profile,
    kind: 'update-server',
    capabilities: target.capabilities,
    ...(target.limits ? { limits: target.limits } : {}),
    ...(tls ? { tls } : {}),
    url,
    options: { ...publishes, ...target.options },
    lockDir,
  };
}

function referenceProfileOf(profile: UpdateServerTarget['profile']): ReferenceServerProfile {
  if (
    (['http-update', 'esp-https-ota', 'luartos', 'mqtt-trigger'] as const).includes(
      profile as ReferenceServerProfile,
    )
  )
    return profile as ReferenceServerProfile;
  throw new Error(`the embedded reference update server serves a pull profile, not ${profile}`);
}

/**
 * The reference server as a rollout server (mqtt-trigger): an embedded broker, a build folder
 * with two releases it watches, and a plain-HTTP image server that announces every new newest
 * build in the target's dialect (buttons-json unless `options.dialect` says otherwise). The suite
 * drops `buildFile` into `dropFolder` under `dropName`, as a CI upload would.
 */
async function startEmbeddedRolloutServer(
  target: UpdateServerTarget,
  lockDir: string,
): Promise<{ description: TargetDescription; stop(): Promise<void> }> {
  const dialect = (target.options?.dialect as TriggerDialect | undefined) ?? 'buttons-json';
  const topic = typeof target.options?.topic === 'string' ? target.options.topic : undefined;
  const folder = mkdtempSync(join(tmpdir(), 'ota-rollout-builds-'));
  const broker = await startEmbeddedBroker();
  try {
    writeFileSync(
      join(folder, '1.0.0.bin'),
      buildEsp32Image({ size: 24 * 1024, version: '1.0.0', seed: 40 }),
    );
    writeFileSync(
      join(folder, '1.1.0.bin'),
      buildEsp32Image({ size: 24 * 1024, version: '1.1.0', seed: 41 }),
    );
    const buildFile = join(folder, 'next-build.img');
    writeFileSync(buildFile, buildEsp32Image({ size: 28 * 1024, version: '2.0.0', seed: 42 }));
    const server = await startReferenceUpdateServer({
      profile: 'mqtt-trigger',
      directory: folder,
      trigger: { brokerUrl: broker.url, dialect, ...(topic ? { topic } : {}) },
      ...(target.defects ? { defects: target.defects } : {}),
    });
    const description = embeddedServerDescription(target, lockDir, server.url, {
      dialect,
      brokerUrl: broker.url,
      dropFolder: folder,
      buildFile,
      dropName: '2.{stamp}.bin',
      otaUrl: `${server.url}/firmware.bin`,
    });
    return {
      description,
      stop: async () => {
        await server.stop();
        await broker.stop();
        rmSync(folder, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await broker.stop();
    rmSync(folder, { recursive: true, force: true });
    throw error;
  }
}
