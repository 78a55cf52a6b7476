import { createHash } from 'node:crypto';
import type { Target } from '../../drivers/target/index.ts';
import { RigFailure, requirement } from '../framework/index.ts';

/**
 * Role 2 of DESIGN.md: the runner gives these suites to targets of kind `update-server` only;
 * each requirement needs the server's profile, so a Lua RTOS server skips the httpUpdate ones.
 */
export function serverRequirement(profile: 'http-update' | 'luartos'): typeof requirement {
  return (id, level, text, options, body) =>
    requirement(id, level, text, { ...options, needs: [profile, ...(options.needs ?? [])] }, body);
}

export function serverUrl(target: Target): string {
  const url = target.description.url;
  if (!url) throw new RigFailure(`target ${target.name}: an update server under test needs its "url"`);
  return url;
}

/** What the rig says the server publishes (`options`): newest and an older version or commit. */
export function published(target: Target, key: string, fallback?: string): string {
  const value = target.description.options?.[key];
  if (typeof value === 'string' && value !== '') return value;
  if (fallback !== undefined) return fallback;
  throw new RigFailure(`target ${target.name}: options.${key} must name what the server publishes`);
}

export function md5(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

/** `Host` as the Arduino HTTPClient writes it: the port only when it is not 80/443. */
export function hostHeader(url: URL): string {
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return port === 80 || port === 443 ? url.hostname : `${url.hostname}:${port}`;
}
