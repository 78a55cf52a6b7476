import { readFileSync } from 'node:fs';
import { describedFields } from '../../drivers/target/description-fields.ts';
import type { TargetDescription } from '../../drivers/target/index.ts';
import type { ResolvedTarget } from '../../rigs/index.ts';

type UpdateServerTarget = Extract<ResolvedTarget, { kind: 'update-server' }>;

export class ServerUnderTestError extends Error {
  override readonly name = 'ServerUnderTestError';
  readonly code = 'SERVER_UNDER_TEST';
}

/**
 * Role 2 of DESIGN.md with a server the vendor points us at: an `update-server` target with a
 * `url`. Nothing is started; the run's preflight (suites/runner/preflight) checks the server
 * answers, so an address that is down is one rig error for the target instead of a failure per
 * requirement. The rig's CA file must be readable here: a pinned certificate that cannot be read
 * is the rig's fault, not the server's.
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
  return {
    ...describedFields(target, 'update-server'),
    url,
    ...(target.options ? { options: target.options } : {}),
    lockDir,
  };
}
