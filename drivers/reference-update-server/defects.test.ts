import { createHash } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  exactHeaderLine,
  headerOf,
  httpUpdateRequest,
  luaRtosRequest,
  type PullResponse,
  type PullTls,
  sendPullRequest,
} from '../pull-client/index.ts';
import { createTestCertificates, type TestCertificates } from '../update-server/index.ts';
import {
  REFERENCE_SERVER_DEFECTS,
  ReferenceServerError,
  type ReferenceUpdateServerOptions,
  type StartedReferenceUpdateServer,
  startReferenceUpdateServer,
} from './index.ts';

const md5 = (bytes: Uint8Array | string) => createHash('md5').update(bytes).digest('hex');

const started: StartedReferenceUpdateServer[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((server) => server.stop()));
});

/** The same server twice, conforming and with one defect: each test asks both the same question. */
async function conformingAndDefective(
  options: ReferenceUpdateServerOptions,
  defect: string,
): Promise<[StartedReferenceUpdateServer, StartedReferenceUpdateServer]> {
  const conforming = await startReferenceUpdateServer(options);
  started.push(conforming);
  const defective = await startReferenceUpdateServer({ ...options, defects: [defect] });
  started.push(defective);
  return [conforming, defective];
}

/** An ESP8266httpUpdate or ESP32 HTTPUpdate check, byte for byte as the library sends it. */
function httpUpdateCheck(
  server: StartedReferenceUpdateServer,
  options: { platform?: 'esp8266' | 'esp32'; version: string; extra?: string[] },
): Promise<PullResponse> {
  const url = new URL(server.catalogue.path!, server.url);
  return sendPullRequest(
    url.href,
    httpUpdateRequest({
      platform: options.platform ?? 'esp8266',
      path: url.pathname,
      host: url.host,
      currentVersion: options.version,
      sketchMd5: '0'.repeat(32),
      sketchSize: 300_000,
      extra: options.extra ?? [],
    }),
  );
}

const LUA_TLS: PullTls = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1' };

/** A Lua RTOS net.ota() request (TLS 1.1, no SNI, no verification when the server speaks HTTPS). */
function luaAsk(
  server: StartedReferenceUpdateServer,
  query: { firmware?: string; commit?: string },
  tls: PullTls = LUA_TLS,
): Promise<PullResponse> {
  const { hostname, port } = new URL(server.url);
  return sendPullRequest(server.url, luaRtosRequest({ server: hostname, port: Number(port), ...query }), {
    tls,
  });
}

describe('the reference update server defect catalog', () => {
  it('names each defect once per profile, cites the reference, and breaks only its own profile’s requirements', () => {
    for (const [profile, defects] of Object.entries(REFERENCE_SERVER_DEFECTS)) {
      const names = defects.map((defect) => defect.name);
      expect(new Set(names).size, profile).toBe(names.length);
      for (const defect of defects) {
        expect(defect.name).toMatch(/^[a-z0-9]+(?:-[a-z0-9]+)*$/);
        expect(defect.description, defect.name).toMatch(/docs\/protocols\/[a-z0-9-]+\.md §\d/);
        expect(defect.breaks.length, defect.name).toBeGreaterThan(0);
        for (const id of defect.breaks) expect(id).toMatch(new RegExp(`^update-server/${profile}/\\d+$`));
      }
    }
  });

  it('refuses an unknown defect, or one of the other profile, naming it; a TLS defect needs TLS', async () => {
    await expect(
      startReferenceUpdateServer({ profile: 'http-update', defects: ['no-such-bug'] }),
    ).rejects.toThrow(
      /unknown defect 'no-such-bug' for the http-update reference update server; known: never-304,/,
    );
    const otherProfile = await startReferenceUpdateServer({
      profile: 'http-update',
      defects: ['lowercase-header-names'],
    }).catch((error: unknown) => error);
    expect(otherProfile).toBeInstanceOf(ReferenceServerError);
    expect((otherProfile as ReferenceServerError).code).toBe('REFERENCE_SERVER_DEFECT');
    expect((otherProfile as Error).message).toContain("'lowercase-header-names'");
    await expect(
      startReferenceUpdateServer({ profile: 'luartos', defects: ['requires-sni'] }),
    ).rejects.toThrow(/'requires-sni' is a TLS defect/);
    // The acceptance twin: a known defect of the profile starts.
    const server = await startReferenceUpdateServer({ profile: 'luartos', defects: ['never-471'] });
    started.push(server);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});

describe('http-update defects at the wire', () => {
  it('never-304: a check as the newest version gets the image again instead of 304', async () => {
    const [conforming, defective] = await conformingAndDefective({ profile: 'http-update' }, 'never-304');
    const latest = conforming.catalogue.latestVersion!;
    const ok = await httpUpdateCheck(conforming, { version: latest });
    expect(ok.status).toBe(304);
    expect(ok.body.length).toBe(0);
    const bad = await httpUpdateCheck(defective, { version: latest });
    expect(bad.status).toBe(200);
    expect(bad.body[0]).toBe(0xe9);
  });

  it('x-md5-of-file-name: x-MD5 is the MD5 of "<version>.bin", not of the body, on ESP8266 and ESP32', async () => {
    const [conforming, defective] = await conformingAndDefective(
      { profile: 'http-update' },
      'x-md5-of-file-name',
    );
    for (const platform of ['esp8266', 'esp32'] as const) {
      const older = conforming.catalogue.olderVersion!;
      const ok = await httpUpdateCheck(conforming, { platform, version: older });
      expect(exactHeaderLine(ok, 'x-MD5')).toBe(md5(ok.body));
      const bad = await httpUpdateCheck(defective, { platform, version: older });
      expect(bad.status).toBe(200);
      expect(Buffer.compare(bad.body, ok.body)).toBe(0);
      expect(exactHeaderLine(bad, 'x-MD5')).toBe(md5(`${defective.catalogue.latestVersion}.bin`));
      expect(exactHeaderLine(bad, 'x-MD5')).not.toBe(md5(bad.body));
    }
  });

  it('no-content-length: the same image, ended by the close, with no Content-Length', async () => {
    const [conforming, defective] = await conformingAndDefective(
      { profile: 'http-update' },
      'no-content-length',
    );
    const older = conforming.catalogue.olderVersion!;
    const ok = await httpUpdateCheck(conforming, { version: older });
    expect(headerOf(ok, 'content-length')).toBe(String(ok.body.length));
    const bad = await httpUpdateCheck(defective, { version: older });
    expect(bad.status).toBe(200);
    expect(headerOf(bad, 'content-length')).toBeUndefined();
    // To an HTTP/1.0 client (the Arduino updaters) the body is not chunked: it ends at the close.
    expect(headerOf(bad, 'transfer-encoding')).toBeUndefined();
    expect(Buffer.compare(bad.body, ok.body)).toBe(0);
  });

  it('esp8266-only: an ESP32 HTTPUpdate check gets 403, an ESP8266 check still 200', async () => {
    const [conforming, defective] = await conformingAndDefective({ profile: 'http-update' }, 'esp8266-only');
    const older = conforming.catalogue.olderVersion!;
    expect((await httpUpdateCheck(conforming, { platform: 'esp32', version: older })).status).toBe(200);
    expect((await httpUpdateCheck(defective, { platform: 'esp32', version: older })).status).toBe(403);
    expect((await httpUpdateCheck(defective, { platform: 'esp8266', version: older })).status).toBe(200);
  });

  it('ignores-range: a Range request gets the whole image with 200 instead of 206 and the range', async () => {
    const [conforming, defective] = await conformingAndDefective({ profile: 'http-update' }, 'ignores-range');
    const older = conforming.catalogue.olderVersion!;
    const range = { version: older, extra: ['Range: bytes=16-1039'] };
    const ok = await httpUpdateCheck(conforming, range);
    expect(ok.status).toBe(206);
    expect(ok.body.length).toBe(1024);
    expect(headerOf(ok, 'content-range')).toMatch(/^bytes 16-1039\/\d+$/);
    const bad = await httpUpdateCheck(defective, range);
    expect(bad.status).toBe(200);
    expect(headerOf(bad, 'content-range')).toBeUndefined();
    expect(headerOf(bad, 'accept-ranges')).toBeUndefined();
    expect(bad.body.length).toBe(Number(headerOf(bad, 'content-length')));
    expect(bad.body.length).toBeGreaterThan(1024);
  });
});

describe('luartos defects at the wire', () => {
  it('never-471: the newest commit gets 200 and the image instead of 471', async () => {
    const [conforming, defective] = await conformingAndDefective({ profile: 'luartos' }, 'never-471');
    const { firmware, latestCommit } = conforming.catalogue;
    expect((await luaAsk(conforming, { firmware, commit: latestCommit })).status).toBe(471);
    const bad = await luaAsk(defective, { firmware, commit: latestCommit });
    expect(bad.status).toBe(200);
    expect(bad.body[0]).toBe(0xe9);
  });

  it('200-on-bad-arguments: a missing commit or firmware, or an unknown firmware, gets 200 instead of 470', async () => {
    const [conforming, defective] = await conformingAndDefective(
      { profile: 'luartos' },
      '200-on-bad-arguments',
    );
    const { firmware, olderCommit: commit } = conforming.catalogue;
    for (const query of [{ firmware }, { commit }, { firmware: 'NO-SUCH-BOARD-OTA', commit }]) {
      expect((await luaAsk(conforming, query)).status, JSON.stringify(query)).toBe(470);
      expect((await luaAsk(defective, query)).status, JSON.stringify(query)).toBe(200);
    }
    expect((await luaAsk(conforming, { firmware, commit })).status).toBe(200);
  });

  it('no-content-length: the 200 is chunked, with no Content-Length line', async () => {
    const [conforming, defective] = await conformingAndDefective({ profile: 'luartos' }, 'no-content-length');
    const { firmware, olderCommit: commit } = conforming.catalogue;
    const ok = await luaAsk(conforming, { firmware, commit });
    expect(ok.headerLines).toContain(`Content-Length: ${ok.body.length}`);
    const bad = await luaAsk(defective, { firmware, commit });
    expect(bad.status).toBe(200);
    expect(bad.headerLines.some((line) => /^content-length:/i.test(line))).toBe(false);
    expect(bad.headerLines).toContain('Transfer-Encoding: chunked');
    // The pull client hands back the decoded body: the same image, only the framing differs.
    expect(Buffer.compare(bad.body, ok.body)).toBe(0);
  });

  it('lowercase-header-names: content-type and content-length in lower case, values unchanged', async () => {
    const [conforming, defective] = await conformingAndDefective(
      { profile: 'luartos' },
      'lowercase-header-names',
    );
    const { firmware, olderCommit: commit } = conforming.catalogue;
    const ok = await luaAsk(conforming, { firmware, commit });
    expect(ok.headerLines).toContain('Content-Type: application/octet-stream');
    const bad = await luaAsk(defective, { firmware, commit });
    expect(bad.headerLines).toContain('content-type: application/octet-stream');
    expect(bad.headerLines).toContain(`content-length: ${bad.body.length}`);
    expect(exactHeaderLine(bad, 'Content-Type')).toBeUndefined();
    expect(exactHeaderLine(bad, 'Content-Length')).toBeUndefined();
  });

  it('binary-octet-stream: the 200 says Content-Type: binary/octet-stream', async () => {
    const [conforming, defective] = await conformingAndDefective(
      { profile: 'luartos' },
      'binary-octet-stream',
    );
    const { firmware, olderCommit: commit } = conforming.catalogue;
    expect(exactHeaderLine(await luaAsk(conforming, { firmware, commit }), 'Content-Type')).toBe(
      'application/octet-stream',
    );
    expect(exactHeaderLine(await luaAsk(defective, { firmware, commit }), 'Content-Type')).toBe(
      'binary/octet-stream',
    );
  });

  describe('over TLS', () => {
    let certificates: TestCertificates;
    beforeAll(async () => {
      certificates = await createTestCertificates();
    });
    const luaServer = (): ReferenceUpdateServerOptions => ({
      profile: 'luartos',
      tls: { key: certificates.keyPem, cert: certificates.certPem, minVersion: 'TLSv1.1' },
    });

    it('requires-tls-1-2: a TLS 1.1 client cannot connect; a TLS 1.2 client can', async () => {
      const [conforming, defective] = await conformingAndDefective(luaServer(), 'requires-tls-1-2');
      const { firmware, latestCommit: commit } = conforming.catalogue;
      const ok = await luaAsk(conforming, { firmware, commit });
      expect(ok.tlsProtocol).toBe('TLSv1.1');
      expect(ok.status).toBe(471);
      await expect(luaAsk(defective, { firmware, commit })).rejects.toMatchObject({
        code: 'PULL_CLIENT_CONNECT',
      });
      const modern = await luaAsk(defective, { firmware, commit }, { minVersion: 'TLSv1.2' });
      expect(modern.tlsProtocol).toMatch(/^TLSv1\.[23]$/);
      expect(modern.status).toBe(471);
    });

    it('requires-sni: a client without SNI gets no answer; one naming the server does', async () => {
      const [conforming, defective] = await conformingAndDefective(luaServer(), 'requires-sni');
      const { firmware, latestCommit: commit } = conforming.catalogue;
      expect((await luaAsk(conforming, { firmware, commit })).status).toBe(471);
      await expect(luaAsk(defective, { firmware, commit })).rejects.toMatchObject({
        code: expect.stringMatching(/^PULL_CLIENT_(CONNECT|BAD_RESPONSE)$/),
      });
      const named = await luaAsk(defective, { firmware, commit }, { ...LUA_TLS, servername: 'localhost' });
      expect(named.status).toBe(471);
    });
  });
});

/** An updater check with every field the platform-aware and 403 defects look at. */
function updaterCheck(
  server: StartedReferenceUpdateServer,
  options: {
    platform: 'esp8266' | 'esp32';
    version?: string;
    sketchMd5?: string;
    freeSpace?: number;
    userAgent?: string;
  },
): Promise<PullResponse> {
  const url = new URL(server.catalogue.path!, server.url);
  let request = httpUpdateRequest({
    platform: options.platform,
    path: url.pathname,
    host: url.host,
    ...(options.version ? { currentVersion: options.version } : {}),
    sketchMd5: options.sketchMd5 ?? '0'.repeat(32),
    sketchSize: 300_000,
    ...(options.freeSpace === undefined ? {} : { freeSpace: options.freeSpace }),
  });
  if (options.userAgent) request = request.replace(/User-Agent: [^\r]*/, `User-Agent: ${options.userAgent}`);
  return sendPullRequest(url.href, request);
}

const isEsp32App = (bytes: Buffer) => bytes[0] === 0xe9 && bytes.readUInt32LE(0x20) === 0xabcd5432;

describe('http-update platform, 403 and version-selection defects at the wire', () => {
  it('serves each chip its own build: an ESP8266 image to ESP8266, an ESP32 app image to ESP32; one-image-for-all-platforms gives the ESP8266 the ESP32 build', async () => {
    const [conforming, defective] = await conformingAndDefective(
      { profile: 'http-update' },
      'one-image-for-all-platforms',
    );
    const older = conforming.catalogue.olderVersion!;
    const esp8266 = await updaterCheck(conforming, { platform: 'esp8266', version: older });
    const esp32 = await updaterCheck(conforming, { platform: 'esp32', version: older });
    expect([esp8266.status, esp32.status]).toEqual([200, 200]);
    expect(esp8266.body[0]).toBe(0xe9);
    expect(isEsp32App(esp8266.body)).toBe(false);
    expect(isEsp32App(esp32.body)).toBe(true);
    const bad = await updaterCheck(defective, { platform: 'esp8266', version: older });
    expect(bad.status).toBe(200);
    expect(isEsp32App(bad.body)).toBe(true);
  });

  it('403 to a browser and to a foreign User-Agent; serves-any-client serves both, ignores-user-agent only the one with the headers', async () => {
    const [conforming, anyClient] = await conformingAndDefective(
      { profile: 'http-update' },
      'serves-any-client',
    );
    const noAgent = await startReferenceUpdateServer({
      profile: 'http-update',
      defects: ['ignores-user-agent'],
    });
    started.push(noAgent);
    const browser = (server: StartedReferenceUpdateServer) =>
      sendPullRequest(
        new URL('/firmware.bin', server.url).href,
        `GET /firmware.bin HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\nUser-Agent: Mozilla/5.0\r\nConnection: close\r\n\r\n`,
      );
    const curl = (server: StartedReferenceUpdateServer) =>
      updaterCheck(server, { platform: 'esp8266', version: '1.0.0', userAgent: 'curl/8.5.0' });
    expect((await browser(conforming)).status).toBe(403);
    expect((await curl(conforming)).status).toBe(403);
    expect((await updaterCheck(conforming, { platform: 'esp8266', version: '1.0.0' })).status).toBe(200);
    expect((await browser(anyClient)).status).toBe(200);
    expect((await curl(anyClient)).status).toBe(200);
    expect((await browser(noAgent)).status).toBe(403);
    expect((await curl(noAgent)).status).toBe(200);
  });

  it('304 for the running sketch MD5 without a version; ignores-sketch-md5 sends the image again', async () => {
    const [conforming, defective] = await conformingAndDefective(
      { profile: 'http-update' },
      'ignores-sketch-md5',
    );
    const image = await updaterCheck(conforming, { platform: 'esp32' });
    expect(image.status).toBe(200);
    const running = md5(image.body);
    expect((await updaterCheck(conforming, { platform: 'esp32', sketchMd5: running })).status).toBe(304);
    expect((await updaterCheck(defective, { platform: 'esp32', sketchMd5: running })).status).toBe(200);
  });

  it('304 when the image does not fit the free space; ignores-free-space sends it anyway', async () => {
    const [conforming, defective] = await conformingAndDefective(
      { profile: 'http-update' },
      'ignores-free-space',
    );
    const fits = await updaterCheck(conforming, {
      platform: 'esp8266',
      version: '1.0.0',
      freeSpace: 1 << 20,
    });
    expect(fits.status).toBe(200);
    const tight = { platform: 'esp8266', version: '1.0.0', freeSpace: fits.body.length - 1 } as const;
    expect((await updaterCheck(conforming, tight)).status).toBe(304);
    expect((await updaterCheck(defective, tight)).status).toBe(200);
  });

  it('304 to a device reporting a newer version; downgrades-newer-devices offers it the older image', async () => {
    const [conforming, defective] = await conformingAndDefective(
      { profile: 'http-update' },
      'downgrades-newer-devices',
    );
    expect((await updaterCheck(conforming, { platform: 'esp8266', version: '2.1.0' })).status).toBe(304);
    expect((await updaterCheck(conforming, { platform: 'esp8266', version: '1.0.0' })).status).toBe(200);
    expect((await updaterCheck(defective, { platform: 'esp8266', version: '2.1.0' })).status).toBe(200);
  });
});
