import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  describeWithVectors,
  itWithVectors,
  readVector,
  VECTORS,
} from '../../fixtures/golden-vectors.test-support.ts';
import {
  flipBit,
  parseEsp32Image,
  parseEsp8266Image,
  readSketchDescriptor,
  SIGNING_SCHEMES,
  splitSignedImage,
  validateImage,
} from '../../fixtures/index.ts';
import { registerImageCommand } from './image.ts';

const dir = mkdtempSync(join(tmpdir(), 'image-command-'));
const vector = join(VECTORS, 'esp32-app-v1.1.0.bin');
let output = '';

async function run(...args: string[]): Promise<number | undefined> {
  const program = new Command('ota-conformance').exitOverride();
  registerImageCommand(program);
  process.exitCode = undefined;
  await program.parseAsync(['node', 'ota-conformance', ...args]);
  return typeof process.exitCode === 'number' ? process.exitCode : undefined;
}

beforeEach(() => {
  output = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    output += String(chunk);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

describe('image inspect', () => {
  itWithVectors('prints the golden vector like esptool and exits 0', async () => {
    expect(await run('image', 'inspect', vector)).toBe(0);
    expect(output).toContain('Checksum: 0xe6 (valid)');
    expect(output).toContain(
      'Validation hash: a5cb50e41535b0bc0ad34c4f3996bbb8df40adbe7687da9ca6fcf50c9281728b (valid)',
    );
    expect(output).toContain('Secure version: 2');
    expect(output).toMatch(/Findings\n=+\nnone/);
  });

  itWithVectors(
    'exits 1 with the findings for a wrong chip, a small partition and a low secure version',
    async () => {
      const code = await run(
        'image',
        'inspect',
        vector,
        '--chip',
        'esp32c3',
        '--partition-size',
        '0x1000',
        '--min-secure-version',
        '3',
      );
      expect(code).toBe(1);
      expect(output).toContain('chip-id-mismatch at 0xc');
      expect(output).toContain('oversize at 0x1000');
      expect(output).toContain('secure-version-too-low at 0x24');
    },
  );

  itWithVectors('prints JSON', async () => {
    const path = join(dir, 'flipped.bin');
    writeFileSync(path, flipBit(readVector('esp32-app-v1.1.0.bin'), 0x300 * 8));
    expect(await run('image', 'inspect', path, '--json')).toBe(1);
    const json = JSON.parse(output);
    expect(json.findings.map((f: { code: string }) => f.code)).toEqual([
      'checksum-mismatch',
      'sha256-mismatch',
    ]);
    expect(json.esp32.appDescriptor.version).toBe('1.1.0');
  });

  it('throws an error naming an unreadable file', async () => {
    await expect(run('image', 'inspect', join(dir, 'missing.bin'))).rejects.toThrow(/missing\.bin/);
  });
});

describeWithVectors('image inspect on a bad digest', () => {
  it('shows the stored and the computed SHA-256', async () => {
    const path = join(dir, 'bad-hash.bin');
    const bytes = readVector('esp32-app-v1.1.0.bin');
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    writeFileSync(path, bytes);
    expect(await run('image', 'inspect', path)).toBe(1);
    const stored = Buffer.from(bytes.subarray(-32)).toString('hex');
    expect(output).toContain(
      `Validation hash: ${stored} (invalid - calculated a5cb50e41535b0bc0ad34c4f3996bbb8df40adbe7687da9ca6fcf50c9281728b)`,
    );
  });
});

describe('image build', () => {
  it('builds an ESP32 image with the asked-for fields that inspects clean', async () => {
    const out = join(dir, 'app.bin');
    await run(
      'image',
      'build',
      '--out',
      out,
      '--size',
      '65536',
      '--version',
      '3.1.4',
      '--chip',
      'esp32s3',
      '--secure-version',
      '4',
      '--project',
      'demo',
    );
    const bytes = new Uint8Array(readFileSync(out));
    expect(bytes.length).toBe(65536);
    const image = parseEsp32Image(bytes);
    expect(image.findings).toEqual([]);
    expect(image.header.chipId).toBe(9);
    expect(image.appDescriptor).toMatchObject({ version: '3.1.4', secureVersion: 4, projectName: 'demo' });
    expect(await run('image', 'inspect', out, '--chip', 'esp32s3')).toBe(0);
  });

  it('builds a gzipped, signed ESP8266 image that verifies with the public key', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyPath = join(dir, 'private.pem');
    const pubPath = join(dir, 'public.pem');
    writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(pubPath, publicKey.export({ type: 'spki', format: 'pem' }));
    const out = join(dir, 'signed.bin.gz');
    await run(
      'image',
      'build',
      '--out',
      out,
      '--platform',
      'esp8266',
      '--size',
      '8192',
      '--gzip',
      '--sign',
      keyPath,
    );
    const bytes = new Uint8Array(readFileSync(out));
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
    expect(splitSignedImage(bytes).signature.length).toBe(256);
    expect(validateImage(bytes, { publicKey })).toEqual([]);
    expect(await run('image', 'inspect', out, '--pubkey', pubPath)).toBe(0);
    expect(output).toContain('Signature: 256 bytes (valid)');
    expect(await run('image', 'inspect', out, '--pubkey', pubPath, '--legacy')).toBe(1);
  });

  it('builds a bare ESP8266 app with --app-only', async () => {
    const out = join(dir, 'plain.bin');
    await run('image', 'build', '--out', out, '--platform', 'esp8266', '--app-only', '--size', '4096');
    const bytes = new Uint8Array(readFileSync(out));
    expect(bytes.length).toBe(4096);
    expect(parseEsp8266Image(bytes).findings).toEqual([]);
    expect(readSketchDescriptor(bytes)).toBeUndefined();
  });

  it('builds a whole ESP8266 sketch file by default, and inspect shows eboot, the app and the build', async () => {
    const out = join(dir, 'sketch.bin');
    await run(
      'image',
      'build',
      '--out',
      out,
      '--platform',
      'esp8266',
      '--version',
      '2.0.1',
      '--project',
      'Zürich',
      '--build-epoch',
      String(Date.UTC(2026, 1, 7, 3, 4, 5) / 1000),
    );
    const bytes = new Uint8Array(readFileSync(out));
    expect(bytes[0]).toBe(0xe9);
    expect(bytes[0x1000]).toBe(0xe9);
    expect(readSketchDescriptor(bytes)).toEqual({
      version: '2.0.1',
      projectName: 'Zürich',
      date: 'Feb  7 2026',
      time: '03:04:05',
    });
    expect(await run('image', 'inspect', out)).toBe(0);
    expect(output).toContain('Bootloader (eboot): offset 0x00000000');
    expect(output).toContain('App: offset 0x00001000');
    expect(output).toContain('Sketch version: 2.0.1');
    expect(output).toContain('Compile time: Feb  7 2026 03:04:05');
    expect(output).toMatch(/Findings\n=+\nnone/);
  });

  it('stamps a build without --build-* with the time it ran, like __DATE__/__TIME__', async () => {
    const out = join(dir, 'now.bin');
    const before = Date.now();
    await run('image', 'build', '--out', out);
    const descriptor = parseEsp32Image(new Uint8Array(readFileSync(out))).appDescriptor!;
    const stamped = Date.parse(`${descriptor.date.replace(/\s+/g, ' ')} ${descriptor.time} UTC`);
    expect(stamped).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(stamped).toBeLessThanOrEqual(Date.now());
  });

  it('writes the build date and time into an ESP32 descriptor', async () => {
    const out = join(dir, 'dated.bin');
    await run('image', 'build', '--out', out, '--build-date', 'Mar 14 2026', '--build-time', '15:09:26');
    expect(parseEsp32Image(new Uint8Array(readFileSync(out))).appDescriptor).toMatchObject({
      date: 'Mar 14 2026',
      time: '15:09:26',
    });
  });

  it.each([
    [['--platform', 'esp8266', '--chip', 'esp32'], /--chip applies to esp32 images only/],
    [['--platform', 'esp8266', '--secure-version', '1'], /--secure-version applies to esp32 images only/],
    [['--app-only'], /--app-only applies to esp8266 images only/],
    [['--gzip'], /--gzip applies to esp8266 images only/],
    [['--platform', 'esp8266', '--app-only', '--version', '2'], /--version is written into the sketch file/],
    [['--version', 'v'.repeat(32)], /32 bytes in UTF-8; ESP-IDF keeps at most 31/],
    [['--chip', 'esp32h2'], /load addresses are not known here/],
    [['--build-epoch', '1', '--build-date', 'Jan  1 2026'], /do not combine/],
    [['--build-date', '2026-01-01'], /Mmm dd yyyy/],
  ])('refuses %j', async (args, message) => {
    await expect(run('image', 'build', '--out', join(dir, 'refused.bin'), ...args)).rejects.toThrow(message);
  });

  it('refuses --secure-version 4294967296 instead of wrapping it to 0', async () => {
    await expect(
      run('image', 'build', '--out', join(dir, 'x.bin'), '--secure-version', '4294967296'),
    ).rejects.toThrow(/does not fit a 32-bit field/);
  });

  it('refuses a signing key that is not PEM with a clear error', async () => {
    const der = join(dir, 'key.der');
    writeFileSync(der, Uint8Array.of(0x30, 0x82, 0x04, 0xa4, 0x02, 0x01, 0x00));
    await expect(
      run('image', 'build', '--out', join(dir, 'y.bin'), '--platform', 'esp8266', '--sign', der),
    ).rejects.toThrow(/is not a PEM key/);
  });
});

describe('image keygen and image sign', () => {
  it.each(SIGNING_SCHEMES)('%s: a generated key signs an image that inspect verifies', async (scheme) => {
    const key = join(dir, `${scheme}.pem`);
    await run('image', 'keygen', '--scheme', scheme, '--out', key);
    const platform = scheme.startsWith('esp8266') ? 'esp8266' : 'esp32';
    const plain = join(dir, `${scheme}.bin`);
    await run(
      'image',
      'build',
      '--out',
      plain,
      '--platform',
      platform,
      ...(platform === 'esp8266' ? ['--app-only'] : []),
    );
    const signed = join(dir, `${scheme}.signed`);
    await run('image', 'sign', plain, '--scheme', scheme, '--key', key, '--out', signed);
    const pub = join(dir, `${scheme}.pub.pem`);
    expect(await run('image', 'inspect', signed, '--pubkey', pub, '--scheme', scheme)).toBe(0);
    expect(output).toMatch(/Signature: \d+ bytes \(valid\)/);
    const other = join(dir, `${scheme}-other.pem`);
    await run('image', 'keygen', '--scheme', scheme, '--out', other);
    expect(
      await run(
        'image',
        'inspect',
        signed,
        '--pubkey',
        join(dir, `${scheme}-other.pub.pem`),
        '--scheme',
        scheme,
      ),
    ).toBe(1);
  });

  it('refuses an unknown scheme naming the known ones', async () => {
    await expect(run('image', 'keygen', '--scheme', 'rsa', '--out', join(dir, 'k.pem'))).rejects.toThrow(
      /known schemes: esp8266-pkcs1, esp8266-legacy/,
    );
  });
});
