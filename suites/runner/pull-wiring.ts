import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ReferenceServerProfile,
  type StartedReferenceUpdateServer,
  startReferenceUpdateServer,
} from '../../drivers/reference-update-server/index.ts';
import type { TargetDescription } from '../../drivers/target/index.ts';
import { createTestCertificates, type TestCertificates } from '../../drivers/update-server/index.ts';
import type { EmulatorOptions } from '../../emulators/index.ts';
import type { ResolvedTarget } from '../../rigs/index.ts';

type EmulatorTarget = Extract<ResolvedTarget, { kind: 'emulator' }>;
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
  const description: TargetDescription = {
    name: target.name,
    profile: target.profile,
    kind: 'update-server',
    capabilities: target.capabilities,
    ...(target.limits ? { limits: target.limits } : {}),
    ...(tls ? { tls } : {}),
    url: server.url,
    options: { ...server.catalogue, ...target.options },
    lockDir,
  };
  return { description, stop: () => server.stop() };
}

function referenceProfileOf(profile: UpdateServerTarget['profile']): ReferenceServerProfile {
  if (profile === 'luartos' || profile === 'esp-https-ota' || profile === 'http-update') return profile;
  throw new Error(
    `the embedded reference update server serves http-update, esp-https-ota and luartos, not ${profile}`,
  );
}
