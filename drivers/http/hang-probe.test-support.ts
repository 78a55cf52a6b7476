import { ViperHttpClient } from './viperhttp-client.ts';

/**
 * Run as its own process by step-timeouts.test.ts: one chunk to a target that never answers, the
 * error printed, and no close() — the process must still exit once the step has failed.
 */
const [port, stepMs] = process.argv.slice(2).map(Number);
const client = new ViperHttpClient({
  baseUrl: `http://127.0.0.1:${port}`,
  targetName: 'probe',
  dialect: 'viperhttp',
  timeouts: { stepMs: stepMs ?? 400 },
});
try {
  await client.chunk(new Uint8Array(1024), { offset: 0 });
  console.log('unexpected answer');
} catch (error) {
  const { code, message } = error as { code?: string; message: string };
  console.log(`${code}: ${message}`);
}
