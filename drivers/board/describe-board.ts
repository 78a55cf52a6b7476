import { readFileSync } from 'node:fs';
import type { BoardTarget, Resolved } from '../../rigs/index.ts';
import { describedFields } from '../target/description-fields.ts';
import type { TargetDescription } from '../target/index.ts';

/**
 * A real board from its rig entry: console port, network endpoint, power switch and reset line,
 * as a description `connectTarget` binds drivers to. Nothing here knows whether the other end is
 * silicon on a bench or an emulator process reached the same way.
 */
export function describeBoard(target: Resolved<BoardTarget>, lockDir: string): TargetDescription {
  return {
    ...describedFields(target, 'board'),
    ...(target.url ? { url: target.url } : {}),
    ...(target.host ? { host: target.host } : {}),
    ...(target.port ? { port: target.port } : {}),
    ...(target.updateServer ? { updateServer: withServerTls(target) } : {}),
    ...(target.mqtt ? { mqtt: target.mqtt } : {}),
    ...(target.options ? { options: target.options } : {}),
    ...(target.console ? { console: target.console } : {}),
    ...(target.power ? { power: target.power } : {}),
    ...(target.reset ? { reset: target.reset } : {}),
    ...(target.firmware ? { firmware: target.firmware } : {}),
    ...(target.prepare ? { prepare: target.prepare } : {}),
    lockDir,
  };
}

/**
 * The certificate the harness' update server presents to a board that pulls over HTTPS: the
 * rig's tls.certFile/keyFile (and caFile, what the board pins), read once here.
 */
function withServerTls(target: Resolved<BoardTarget>): NonNullable<TargetDescription['updateServer']> {
  const server = target.updateServer!;
  const tls = target.tls;
  if (tls?.certFile === undefined || tls.keyFile === undefined) return server;
  return {
    ...server,
    tls: {
      certPem: readFileSync(tls.certFile, 'utf8'),
      keyPem: readFileSync(tls.keyFile, 'utf8'),
      caPem: tls.caFile === undefined ? '' : readFileSync(tls.caFile, 'utf8'),
      ...(tls.minVersion ? { minVersion: tls.minVersion } : {}),
    },
  };
}
