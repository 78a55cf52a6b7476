import { freemem, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import type { BenchReport } from '../../bench/report.ts';
import { type StartedEmulator, startEmulator } from '../start-emulator.ts';

const MIB = 1024 * 1024;
const BENCH_TOKEN = 'bench-token';

/** Forces full collections so heap figures are what stays alive, not garbage in flight. */
async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc (npm run bench does)');
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(20);
  }
  return process.memoryUsage();
}

async function answers(emulator: StartedEmulator): Promise<boolean> {
  const http = emulator.endpoints().services.http;
  if (!http) return false;
  const response = await request(`http://${http.host}:${http.port}/ota/status`, {
    headers: { 'X-OTA-Token': BENCH_TOKEN },
  });
  await response.body.dump();
  return response.statusCode === 200;
}

/**
 * The idle cost of one emulated device beyond its flash buffer, and how many run at once here:
 * `viperhttp` emulators (HTTP server + control plane + 4 MiB flash) started side by side, each
 * answering its status route.
 */
export default async function emulatorFootprint(): Promise<BenchReport[]> {
  const count = Number(process.env.BENCH_EMULATORS ?? 100);
  const before = await settledMemory();
  const first = await startEmulator({ profile: 'viperhttp', seed: 1, options: { token: BENCH_TOKEN } });
  const flashBytes = first.device.flash.size;
  const afterOne = await settledMemory();
  const emulators: StartedEmulator[] = [first];
  const startedAt = performance.now();
  for (let i = 1; i < count; i++)
    emulators.push(
      await startEmulator({ profile: 'viperhttp', seed: i + 1, options: { token: BENCH_TOKEN } }),
    );
  const startMs = performance.now() - startedAt;
  const answered = (await Promise.all(emulators.map(answers))).filter(Boolean).length;
  const afterAll = await settledMemory();
  for (const emulator of emulators) await emulator.stop();

  const heapOne = afterOne.heapUsed - before.heapUsed;
  const buffersOne = afterOne.arrayBuffers - before.arrayBuffers - flashBytes;
  const heapEach = (afterAll.heapUsed - before.heapUsed) / count;
  const buffersEach = (afterAll.arrayBuffers - before.arrayBuffers) / count - flashBytes;
  const rssEach = (afterAll.rss - before.rss) / count;
  const perEmulator = Math.max(rssEach, flashBytes + heapEach + Math.max(0, buffersEach));
  const fit = Math.floor((freemem() * 0.8) / perEmulator);
  return [
    {
      title: 'Idle footprint of one emulated device (viperhttp, ESP32, 4 MiB flash)',
      columns: ['measure', 'one emulator', `mean of ${count}`],
      rows: [
        ['JS heap (KiB)', heapOne / 1024, heapEach / 1024],
        ['buffers beyond the flash (KiB)', buffersOne / 1024, buffersEach / 1024],
        ['flash buffer (KiB)', flashBytes / 1024, flashBytes / 1024],
        ['resident set growth (KiB)', (afterOne.rss - before.rss) / 1024, rssEach / 1024],
      ],
    },
    {
      title: 'Emulators running at once on this machine',
      columns: ['started', 'answering /ota/status', 'start time each (ms)', 'fit in 80 % of free memory'],
      rows: [[count, answered, startMs / Math.max(1, count - 1), fit]],
      notes: [
        `Free memory ${Math.round(freemem() / MIB)} MiB of ${Math.round(totalmem() / MIB)} MiB; ` +
          `the fit figure divides 80 % of it by the larger of the measured RSS growth and flash + heap per emulator.`,
      ],
    },
  ];
}
