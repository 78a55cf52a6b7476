import { SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { buildEsp32Image } from '../../../fixtures/index.ts';
import { socatMissing } from '../../console/socat.test-support.ts';
import { type StartedEmulator, startEmulator } from '../../start-emulator.ts';

const started: StartedEmulator[] = [];
afterEach(async () => {
  for (const emulator of started.splice(0)) await emulator.stop();
});

/** Collects what arrives on a serial port until `pattern` has been seen (or the time is up). */
function readUntil(port: SerialPort, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(
      () => reject(new Error(`no ${pattern} on the PTY; got: ${text.slice(-400)}`)),
      timeoutMs,
    );
    port.on('data', (data: Buffer) => {
      text += data.toString('latin1');
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve(text);
      }
    });
  });
}

describe('viperhttp-doc console', () => {
  it('shows the boot into the updated image on a real pseudo-terminal', async (context) => {
    if (socatMissing !== undefined) return context.skip(socatMissing);
    const token = 'pty-doc-token';
    const emulator = await startEmulator({ profile: 'viperhttp-doc', console: 'pty', options: { token } });
    started.push(emulator);
    const port = new SerialPort({ path: emulator.endpoints().console!, baudRate: 115200 });
    await new Promise<void>((resolve, reject) => port.once('open', resolve).once('error', reject));
    try {
      const http = emulator.endpoints().services.http!;
      const base = `http://${http.host}:${http.port}`;
      const headers = { authorization: `Bearer ${token}` };
      const image = buildEsp32Image({ version: '3.2.1', size: 32 * 1024, seed: 321 });
      const sha256 = (await import('node:crypto')).createHash('sha256').update(image).digest('hex');
      const begin = await fetch(`${base}/ota/begin`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ size: image.length }),
      });
      expect(begin.status).toBe(200);
      for (let offset = 0; offset < image.length; offset += 2048) {
        const write = await fetch(`${base}/ota/write`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/octet-stream' },
          body: image.subarray(offset, offset + 2048),
        });
        expect(write.status).toBe(200);
      }
      const booted = readUntil(port, /app_init: App version:\s+3\.2\.1/, 10_000);
      const finalize = await fetch(`${base}/ota/finalize`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ sha256, reboot: true }),
      });
      expect(finalize.status).toBe(200);
      const text = await booted;
      expect(text).toContain('rst:0xc (SW_CPU_RESET)');
      expect(text).toMatch(/boot: Loaded app from partition at offset 0x[0-9a-f]+/);
    } finally {
      await new Promise<void>((resolve) => port.close(() => resolve()));
    }
  });
});
