import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Target } from '../../../drivers/target/index.ts';
import { buildEsp32Image, decodeAppDescriptor } from '../../../fixtures/index.ts';
import { checkCommand } from './pull-delivery.ts';
import { ImageUnavailableError, otherRigVersion, rigBootableImage } from './rig-images.ts';

/** Only what checkCommand reads: the profile and the rig's options. */
const pullTarget = (profile: Target['profile'], options?: Record<string, unknown>) =>
  ({ profile, description: { options } }) as unknown as Target;

describe('checkCommand: the line that makes a pull device check for an update', () => {
  it("is Lua RTOS's own `net.ota()` (its console is the Lua REPL), `ota check` for the lab's sketches", () => {
    expect(checkCommand(pullTarget('luartos'))).toBe('net.ota()');
    expect(checkCommand(pullTarget('http-update'))).toBe('ota check');
    expect(checkCommand(pullTarget('esp-https-ota'))).toBe('ota check');
  });

  it("is the rig's options.checkCommand when it names one", () => {
    expect(checkCommand(pullTarget('luartos', { checkCommand: 'net.ota() ' }))).toBe('net.ota()');
    expect(checkCommand(pullTarget('esp-https-ota', { checkCommand: 'update now' }))).toBe('update now');
    // Not a command: the profile's own.
    expect(checkCommand(pullTarget('luartos', { checkCommand: '  ' }))).toBe('net.ota()');
    expect(checkCommand(pullTarget('http-update', { checkCommand: 7 }))).toBe('ota check');
  });
});

describe('a Lua RTOS board with the vendor builds', () => {
  const folder = mkdtempSync(join(tmpdir(), 'luartos-rig-'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));
  const baselineCommit = '6b455df4965c2242754a80896562e254ba0ee528';
  const updateCommit = 'a752f40fcc49e6c137cea42f1c0525e7654fdf67';
  const write = (name: string, seed: number) => {
    const path = join(folder, name);
    writeFileSync(path, buildEsp32Image({ version: 'v2.0-dev', size: 0x8000, seed }));
    return path;
  };
  const board = (profile: Target['profile'], lines: string[] = []) =>
    ({
      name: `${profile}-board`,
      profile,
      platform: 'esp32',
      console: { lines: () => lines.map((text, index) => ({ index, text, source: 'device', atMs: 0 })) },
      description: {
        name: `${profile}-board-${Math.random()}`,
        kind: 'board',
        platform: 'esp32',
        options: { bootVersionPattern: '^commit (?<version>[0-9a-f]+)' },
        firmware: {
          baseline: { path: write(`${profile}-baseline.bin`, 1), version: baselineCommit },
          update: { path: write(`${profile}-update.bin`, 2), version: updateCommit },
        },
      },
    }) as unknown as Target;

  it('is sent only its own two builds: a rewritten descriptor would boot printing the same commit', () => {
    const target = board('luartos');
    expect(rigBootableImage(target, updateCommit)).toBeDefined();
    expect(rigBootableImage(target, baselineCommit)).toBeDefined();
    expect(() => rigBootableImage(target, '1.2.3')).toThrow(ImageUnavailableError);
    expect(() => rigBootableImage(target, '1.2.3')).toThrow(/commit in their code/);
  });

  it('takes the build it is not running next, read from the banner', () => {
    expect(otherRigVersion(board('luartos', [`commit ${baselineCommit}`]))).toBe(updateCommit);
    expect(otherRigVersion(board('luartos', [`commit ${updateCommit}`]))).toBe(baselineCommit);
  });

  it('an ESP-IDF app on ESP32 still gets a derived version, which its App version line reports', () => {
    const target = board('esp-https-ota');
    const derived = rigBootableImage(target, '1.2.3');
    expect(decodeAppDescriptor(derived!).version).toBe('1.2.3');
    expect(otherRigVersion(target)).toBeUndefined();
  });
});
