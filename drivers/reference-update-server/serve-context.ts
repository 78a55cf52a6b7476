import type http from 'node:http';
import type { Catalogue, Release } from './catalogue.ts';
import { inRollout } from './rollout.ts';
import type { Delivery } from './send-release.ts';

/** What every profile's handler shares: the releases, the defects, the rollout and the limits. */
export interface ServeContext {
  catalogue: Catalogue;
  /** The path HTTPUpdate and esp_https_ota clients ask for the newest image at. */
  path: string;
  defects: ReadonlySet<string>;
  /** The staged rollout's percentage now (100: every device gets the newest). */
  rolloutPercent(): number;
  /** The limits a download to `device` goes out under, and where its byte count is logged. */
  delivery(device: string, response: http.ServerResponse): Delivery;
}

/** The newest release a device may have: the newest if it is in the rollout's stage, else the one before. */
export function newestFor(
  context: ServeContext,
  releases: readonly Release[],
  device: string,
): Release | undefined {
  if (releases.length < 2 || inRollout(device, context.rolloutPercent())) return releases.at(-1);
  return releases.at(-2);
}

export type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;
