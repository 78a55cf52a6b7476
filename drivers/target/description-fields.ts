import type { TargetDescription } from './target.ts';

/**
 * The fields every kind of target copies from its resolved rig entry into its description the
 * same way (identity, claims, limits, TLS and credentials); each kind adds its own endpoints.
 */
type Shared = 'platform' | 'limits' | 'tls' | 'token' | 'password' | 'username';

export function describedFields(
  target: Pick<TargetDescription, 'name' | 'profile' | 'capabilities'> & {
    [K in Shared]?: TargetDescription[K] | undefined;
  },
  kind: TargetDescription['kind'],
): Pick<
  TargetDescription,
  | 'name'
  | 'profile'
  | 'platform'
  | 'kind'
  | 'capabilities'
  | 'limits'
  | 'tls'
  | 'token'
  | 'password'
  | 'username'
> {
  return {
    name: target.name,
    profile: target.profile,
    ...(target.platform ? { platform: target.platform } : {}),
    kind,
    capabilities: target.capabilities,
    ...(target.limits ? { limits: target.limits } : {}),
    ...(target.tls ? { tls: target.tls } : {}),
    ...(target.token === undefined ? {} : { token: target.token }),
    ...(target.password === undefined ? {} : { password: target.password }),
    ...(target.username === undefined ? {} : { username: target.username }),
  };
}
