import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  flipBit,
  parseEsp32Image,
  parseEsp8266Image,
  splitSignedImage,
  validateImage,
} from '../../fixtures/index.ts';
import { registerImageCommand } from './image.ts';

const dir = mkdtempSync(join(tmpdir(), 'image-command-'));
const vector = new URL('../../../shared/vectors/esp32-app-v1.1.0.bin', import.meta.url);
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
  it('prints the golden vector like esptool and exits 0', async () => {
    expect(await run('image', 'inspect', vector.pathname)).toBe(0);
    expect(output).toContain('Checksum: 0xe6 (valid)');
    expect(output).toContain(
      'Validation hash: a5cb50e41535b0bc0ad34c4f3996bbb8df40adbe7687da9ca6fcf50c9281728b (valid)',
    );
    expect(output).toContain('Secure version: 2');
    expect(output).toMatch(/Findings\n=+\nnone/);
  });

  it('exits 1 with the findings for a wrong chip, a small partition and a low secure version', async () => {
    const code = await run(
      'image',
      'inspect',
      vector.pathname,
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
  });

  it('prints JSON', async () => {
    const path = join(dir, 'flipped.bin');
    writeFileSync(path, flipBit(new Uint8Array(readFileSync(vector)), 0x300 * 8));
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

  it('builds a plain ESP8266 image', async () => {
    const out = join(dir, 'plain.bin');
    await run('image', 'build', '--out', out, '--platform', 'esp8266', '--size', '4096');
    expect(parseEsp8266Image(new Uint8Array(readFileSync(out))).findings).toEqual([]);
  });
});
