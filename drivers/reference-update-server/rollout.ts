import { createHash } from 'node:crypto';
import type http from 'node:http';

/**
 * Who a request comes from, for staged rollouts and per-device limits: the station MAC the
 * HTTPUpdate client sends (arduino-ota.md §3.1/§3.2 x-…-STA-MAC), else a `device` query parameter
 * (an esp_https_ota URL the application builds), else the remote address.
 */
export function deviceOf(request: http.IncomingMessage, url: URL): string {
  const mac = request.headers['x-esp8266-sta-mac'] ?? request.headers['x-esp32-sta-mac'];
  if (typeof mac === 'string' && mac !== '') return mac.toUpperCase();
  return url.searchParams.get('device') || (request.socket.remoteAddress ?? 'unknown');
}

/**
 * A staged rollout (seeds/ota-firmware-hosting-guide.md § Staged Rollout): `percent` of devices
 * get the newest release, the others the one before. A device's place is a hash of its id, so it
 * is the same on every poll, and raising the percentage only ever adds devices to the stage.
 */
export function inRollout(device: string, percent: number): boolean {
  if (percent >= 100) return true;
  if (percent <= 0) return false;
  const place = createHash('sha256').update(device).digest().readUInt32BE(0) % 10_000;
  return place < percent * 100;
}
