import { type TranscriptEvent, ViperHttpClient } from '../../../drivers/http/index.ts';
import type { Target } from '../../../drivers/target/index.ts';
import { RigFailure } from '../rig-failure.ts';

/** Headers plus one chunk stay under ViperHTTP's 4096-byte request buffer (viperhttp-luartos-mqtt.md §1.8). */
const CHUNK_SIZE = 3840;

export function transcriptHook(target: Target) {
  return (event: TranscriptEvent) => {
    const outcome = event.status === undefined ? `no answer (${event.error ?? 'closed'})` : `${event.status}`;
    target.transcript.record(event.step, 'send', `${event.method} ${event.path} (${event.bytes.sent} B)`);
    target.transcript.record(event.step, 'receive', `${outcome} (${event.bytes.received} B)`);
  };
}

/** A push client in the target's dialect, with its token and step timeout; the caller destroys it. */
export function viperClient(target: Target): ViperHttpClient {
  const url = target.description.url;
  if (url === undefined)
    throw new RigFailure(`target ${target.name}: the rig gives no "url" for its HTTP routes`);
  const token = target.description.token;
  return new ViperHttpClient({
    baseUrl: url,
    targetName: target.name,
    dialect: target.profile === 'viperhttp-doc' ? 'viperhttp-doc' : 'viperhttp',
    ...(token === undefined ? {} : { token }),
    chunkSize: CHUNK_SIZE,
    timeouts: { stepMs: target.stepTimeoutMs },
    transcript: transcriptHook(target),
    redact: (text) => target.redactor.redact(text),
  });
}

export async function withViperClient<T>(
  target: Target,
  body: (client: ViperHttpClient) => Promise<T>,
): Promise<T> {
  const client = viperClient(target);
  try {
    return await body(client);
  } finally {
    await client.destroy();
  }
}
