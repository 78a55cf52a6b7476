import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildEsp32Image } from '../../fixtures/index.ts';
import { exactHeaderLine, httpUpdateRequest, luaRtosRequest, sendPullRequest } from '../pull-client/index.ts';
import { loadCatalogue, ReferenceServerError, startReferenceUpdateServer } from './index.ts';

const folders: string[] = [];
afterAll(async () => {
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

async function firmwareFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'reference-server-'));
  folders.push(folder);
  await writeFile(
    join(folder, '1.10.0.bin'),
    buildEsp32Image({ size: 32 * 1024, version: '1.10.0', seed: 1 }),
  );
  await writeFile(join(folder, '1.9.0.bin'), buildEsp32Image({ size: 32 * 1024, version: '1.9.0', seed: 2 }));
  await mkdir(join(folder, 'GENERIC-OTA'));
  await writeFile(join(folder, 'GENERIC-OTA', 'aaaa.bin'), buildEsp32Image({ size: 32 * 1024, seed: 3 }));
  await writeFile(join(folder, 'GENERIC-OTA', 'bbbb.bin'), buildEsp32Image({ size: 32 * 1024, seed: 4 }));
  await writeFile(join(folder, 'GENERIC-OTA', 'latest'), 'aaaa\n');
  return folder;
}

describe('loadCatalogue', () => {
  it('orders versions numerically and lets a latest file name the newest', async () => {
    const catalogue = await loadCatalogue(await firmwareFolder());
    expect(catalogue.releases.get('default')?.map((r) => r.version)).toEqual(['1.9.0', '1.10.0']);
    expect(catalogue.releases.get('GENERIC-OTA')?.at(-1)?.version).toBe('aaaa');
  });

  it('refuses a latest file that names no release, and an empty folder', async () => {
    const folder = await firmwareFolder();
    await writeFile(join(folder, 'GENERIC-OTA', 'latest'), 'cccc');
    await expect(loadCatalogue(folder)).rejects.toBeInstanceOf(ReferenceServerError);
    const empty = await mkdtemp(join(tmpdir(), 'reference-server-empty-'));
    folders.push(empty);
    await expect(loadCatalogue(empty)).rejects.toThrow(/no \.bin release/);
  });
});

describe('startReferenceUpdateServer', () => {
  it('answers ESP8266 checks: 304 for the newest version or MD5, 200 with x-MD5 otherwise, 403 for a browser', async () => {
    const server = await startReferenceUpdateServer({
      profile: 'http-update',
      directory: await firmwareFolder(),
    });
    try {
      const url = new URL('/firmware.bin', server.url);
      const identity = {
        platform: 'esp8266' as const,
        path: url.pathname,
        host: url.host,
        sketchMd5: '0'.repeat(32),
        sketchSize: 1,
      };
      const current = await sendPullRequest(
        url.href,
        httpUpdateRequest({ ...identity, currentVersion: '1.10.0' }),
      );
      expect(current.status).toBe(304);
      const byMd5 = await sendPullRequest(
        url.href,
        httpUpdateRequest({ ...identity, sketchMd5: server.catalogue.latestMd5! }),
      );
      expect(byMd5.status).toBe(304);
      const older = await sendPullRequest(
        url.href,
        httpUpdateRequest({ ...identity, currentVersion: '1.9.0' }),
      );
      expect(older.status).toBe(200);
      expect(exactHeaderLine(older, 'x-MD5')).toBe(createHash('md5').update(older.body).digest('hex'));
      expect(exactHeaderLine(older, 'Content-Length')).toBe(String(older.body.length));
      const browser = await sendPullRequest(
        url.href,
        `GET ${url.pathname} HTTP/1.0\r\nHost: ${url.host}\r\n\r\n`,
      );
      expect(browser.status).toBe(403);
    } finally {
      await server.stop();
    }
  });

  it('answers Lua RTOS: 471 for the newest commit, 470 for a missing argument, 200 in canonical header case', async () => {
    const server = await startReferenceUpdateServer({
      profile: 'luartos',
      directory: await firmwareFolder(),
    });
    try {
      const { hostname, port } = new URL(server.url);
      const ask = (query: { firmware?: string; commit?: string }) =>
        sendPullRequest(server.url, luaRtosRequest({ server: hostname, port: Number(port), ...query }));
      expect((await ask({ firmware: 'GENERIC-OTA', commit: 'aaaa' })).status).toBe(471);
      expect((await ask({ firmware: 'GENERIC-OTA' })).status).toBe(470);
      const update = await ask({ firmware: 'GENERIC-OTA', commit: 'bbbb' });
      expect(update.status).toBe(200);
      expect(update.headerLines).toContain('Content-Type: application/octet-stream');
      expect(update.headerLines).toContain(`Content-Length: ${update.body.length}`);
    } finally {
      await server.stop();
    }
  });
});
