import { readFileSync } from 'node:fs';
import { reachServer } from '../../drivers/pull-client/index.ts';
import type { TargetDescription } from '../../drivers/target/index.ts';
import type { ResolvedTarget } from '../../rigs/index.ts';

type UpdateServerTarget = Extract<ResolvedTarget, { kind: 'update-server' }>;

export class ServerUnderTestError extends Error {
  override readonly name = 'ServerUnderTestError';
  readonly code = 'SERVER_UNDER_TEST';
}

/**
 * Role 2 of DESIGN.md with a server the vendor points us at: an `update-server` target with a
 * `url`. Nothing is started; the preflight checks a device could connect at all (TCP, and a TLS
 * handshake at the rig's floor for https), so an address that is down is one rig error for the
 * target instead of a failure per requirement. The rig's CA file must be readable here too: a
 * pinned certificate that cannot be read is the rig's fault, not the server's.
 */
export async function describeServerUnderTest(
  target: UpdateServerTarget,
  lockDir: string,
): Promise<TargetDescription> {
  const url = target.url;
  if (url === undefined)
    throw new ServerUnderTestError(`target ${target.name}: an update server under test needs its "url"`);
  if (target.tls?.caFile !== undefined) {
    try {
      readFileSync(target.tls.caFile);
    } catch (error) {
      throw new ServerUnderTestError(
        `target ${target.name}: tls.caFile ${target.tls.caFile} cannot be read: ${(error as Error).message}`,
      );
    }
  }
  await preflightServerUnderTest(target.name, url, target.tls?.minVersion);
  return {
    name: target.name,
    profile: target.profile,
    ...(target.platform ? { platform: target.platform } : {}),
    kind: 'update-server',
    capabilities: target.capabilities,
    ...(target.limits ? { limits: target.limits } : {}),
    ...(target.tls ? { tls: target.tls } : {}),
    ...(target.token === undefined ? {} : { token: target.token }),
    ...(target.password === undefined ? {} : { password: target.password }),
    ...(target.username === undefined ? {} : { username: target.username }),
    url,
    ...(target.options ? { options: target.options } : {}),
    lockDir,
  };
}

/** One target's preflight, named so a run's preflight step can call it beside the devices'. */
export async function preflightServerUnderTest(
  name: string,
  url: string,
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3',
): Promise<void> {
  try {
    await reachServer(url, { timeoutMs: 5_000, ...(minVersion ? { minVersion } : {}) });
  } catch (error) {
    throw new ServerUnderTestError(`target ${name}: ${(error as Error).message}`, { cause: error });
  }
}
