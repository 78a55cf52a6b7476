/**
 * Where the ESP8266 web-update emulator was found to differ from the real code (esp8266/Arduino
 * @f946290), each with its acceptance twin.
 */
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { writeSketchDescriptor } from '../../../fixtures/esp8266-sketch/index.ts';
import { buildArduinoSketch } from '../../boot/index.ts';
import { type StartedEmulator, startEmulator } from '../../start-emulator.ts';

const running: StartedEmulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((emulator) => emulator.stop()));
});

async function start(options: { password?: string; defects?: string[] } = {}): Promise<StartedEmulator> {
  const emulator = await startEmulator({
    profile: 'web-update',
    platform: 'esp8266',
    ...(options.defects ? { defects: options.defects } : {}),
    options: options.password ? { username: 'admin', password: options.password } : {},
  });
  running.push(emulator);
  return emulator;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function exchange(
  emulator: StartedEmulator,
  method: string,
  path: string,
  file?: Uint8Array,
): Promise<Reply> {
  const { port, host } = emulator.endpoints().services.http!;
  const boundary = '----fidelity';
  const body = file
    ? Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="firmware"; filename="x.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
        ),
        file,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ])
    : undefined;
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    if (body) {
      req.setHeader('Content-Type', `multipart/form-data; boundary=${boundary}`);
      req.setHeader('Content-Length', body.length);
    }
    req.end(body);
  });
}

describe('web-update (ESP8266) against the upstream code', () => {
  it('refuses an upload under the 4 KiB Updater buffer with ERROR[13]: No data supplied, and installs one above it', async () => {
    // Updater.cpp L223‑226: end(true) checks progress() (bytes already flushed) before it flushes
    // the buffer (L236‑241), and the buffer is 4096 bytes with more than 8 KiB free heap.
    const emulator = await start();
    const small = buildArduinoSketch({ appSize: 0x400, seed: 3 }).subarray(0, 0xc00);
    const refused = await exchange(emulator, 'POST', '/update', small);
    expect(refused.body).toBe('Update error: ERROR[13]: No data supplied\n');
    const sketch = buildArduinoSketch({ appSize: 16 * 1024, seed: 4 });
    writeSketchDescriptor(sketch, { version: 'big-enough', projectName: 'fidelity' });
    const accepted = await exchange(emulator, 'POST', '/update', sketch);
    expect(accepted.body).toMatch(/Update Success! Rebooting/);
  });

  it('sends its CORS headers with the 401 of an unauthenticated upload (ESP8266HTTPUpdateServer-impl.h L77‑81)', async () => {
    const emulator = await start({ password: 'pw' });
    const refused = await exchange(emulator, 'POST', '/update', new Uint8Array(16));
    expect(refused.status).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe('*');
    expect(refused.headers['access-control-allow-headers']).toBe('*');
    const defective = await start({ password: 'pw', defects: ['cors-after-auth'] });
    const bare = await exchange(defective, 'POST', '/update', new Uint8Array(16));
    expect(bare.status).toBe(401);
    expect(bare.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers an unknown path with 404 text/html (ESP8266WebServer-impl.h L795‑797) and the form path with 200', async () => {
    const emulator = await start();
    const missing = await exchange(emulator, 'GET', '/nothing');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toBe('text/html');
    expect(missing.body).toBe('Not found: /nothing');
    expect((await exchange(emulator, 'GET', '/update')).status).toBe(200);
  });
});
