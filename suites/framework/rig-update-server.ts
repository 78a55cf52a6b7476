import type { Target, TargetDescription } from '../../drivers/target/index.ts';
import {
  type Routes,
  type StartedUpdateServer,
  startUpdateServer,
} from '../../drivers/update-server/index.ts';
import { closeWithRequirement } from './requirement-scope.ts';
import { RigFailure } from './rig-failure.ts';

/**
 * The harness' update server for a pull profile, at the address the rig gave the device and with
 * the certificate it gave for HTTPS. A server that cannot start is the rig's fault, not the device's.
 */
export async function startRigUpdateServer(
  target: Target,
  where: NonNullable<TargetDescription['updateServer']> & { port: number },
  routes: Routes,
): Promise<StartedUpdateServer> {
  const tls = where.tls;
  let server: StartedUpdateServer;
  try {
    server = await startUpdateServer({
      host: where.host ?? '127.0.0.1',
      port: where.port,
      routes,
      ...(tls
        ? {
            tls: {
              key: tls.keyPem,
              cert: tls.certPem,
              ...(tls.minVersion ? { minVersion: tls.minVersion } : {}),
            },
          }
        : {}),
    });
  } catch (error) {
    throw new RigFailure(
      `target ${target.name}: cannot start the update server: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  // Stopped with the requirement, even one given up on at its timeout: the next one binds the
  // same address the device was told.
  const stop = closeWithRequirement(() => server.stop());
  return { ...server, stop };
}
