import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectTarget, type Target, type TargetDescription } from '../../../drivers/target/index.ts';
import { type StartedEmulator, startEmulator } from '../../../emulators/index.ts';
import { freePort } from '../../runner/free-port.ts';
import type { CampaignOptions } from './campaign-result.ts';
import { EmulatorCampaign } from './emulator-campaign.ts';

/*
 * Campaigns against in-process emulators reached the way a rig reaches them: the control plane
 * over HTTP, the console over TCP, the update over the profile's own protocol.
 */

const started: { emulator: StartedEmulator; target: Target }[] = [];
afterEach(async () => {
  for (const { emulator, target } of started.splice(0)) {
    await target.dispose();
    await emulator.stop();
  }
});

const TOKEN = 'campaign-test-token';
const PASSWORD = 'campaign-test-password';

async function targetFor(
  profile: 'viperhttp' | 'web-update' | 'http-update',
  defects: string[] = [],
): Promise<Target> {
  // http-update pulls from the harness' update server at the address it was built with.
  const updatePort = profile === 'http-update' ? await freePort() : undefined;
  const emulator = await startEmulator({
    profile,
    defects,
    console: 'tcp',
    options:
      profile === 'viperhttp'
        ? { token: TOKEN }
        : profile === 'web-update'
          ? { username: 'admin', password: PASSWORD }
          : { updateUrl: `http://127.0.0.1:${updatePort}/firmware.bin` },
  });
  const endpoints = emulator.endpoints();
  const http = endpoints.services.http;
  const description: TargetDescription = {
    name: `${profile}-campaign`,
    profile,
    platform: emulator.platform,
    kind: 'emulator',
    capabilities:
      profile === 'viperhttp'
        ? ['console', 'power-cycle', 'power-cut-at-byte', 'rollback']
        : ['console', 'power-cycle', 'power-cut-at-byte', 'eboot-resume'],
    ...(http ? { url: `http://${http.host}:${http.port}` } : {}),
    ...(updatePort === undefined ? {} : { updateServer: { host: '127.0.0.1', port: updatePort } }),
    ...(profile === 'viperhttp'
      ? { token: TOKEN }
      : profile === 'web-update'
        ? { username: 'admin', password: PASSWORD }
        : {}),
    console: { port: endpoints.console!, baudRate: 115200, reopen: true },
    power: { type: 'emulator-control', url: endpoints.control! },
    lockDir: mkdtempSync(join(tmpdir(), 'powercut-test-')),
  };
  const target = await connectTarget(description);
  started.push({ emulator, target });
  return target;
}

const OPTIONS: CampaignOptions = {
  seed: 7,
  points: 4,
  phases: ['write', 'commit', 'first-boot', 'eboot-copy'],
  bisect: false,
  settleMs: 250,
};

describe('EmulatorCampaign on an ESP32 (viperhttp, rollback)', () => {
  it('phases the reference update: image write, otadata commit, the first boot; a cut in each window ends as the boot model says', async () => {
    const campaign = new EmulatorCampaign(await targetFor('viperhttp'), OPTIONS);
    const reference = await campaign.prepare();
    const commit = reference.filter((operation) => operation.phase === 'commit');
    const firstBoot = reference.filter((operation) => operation.phase === 'first-boot');
    // esp_ota_set_boot_partition: erase the inactive entry's sector, write 32 bytes (esp-idf.md §3.2).
    expect(commit.map((operation) => [operation.kind, operation.length])).toEqual([
      ['erase-sector', 4096],
      ['program', 32],
    ]);
    // The bootloader's NEW→PENDING_VERIFY and the app's mark-valid: each erase + write of the active entry.
    expect(firstBoot.map((operation) => operation.kind)).toEqual([
      'erase-sector',
      'program',
      'erase-sector',
      'program',
    ]);
    const write = reference.find((operation) => operation.phase === 'write' && operation.kind === 'program')!;
    expect((await campaign.cutAt(write.operation)).outcome).toBe('old');
    // An interrupted set_boot_partition loses only the inactive entry (§3.5 power-cut hazards).
    expect((await campaign.cutAt(commit[0]!.operation)).outcome).toBe('old');
    // Between the bootloader's erase and write of the active entry the older entry wins: a rollback.
    const bootloaderErase = await campaign.cutAt(firstBoot[0]!.operation);
    expect(bootloaderErase).toMatchObject({
      outcome: 'rolled-back',
      point: { phase: 'first-boot', kind: 'erase-sector' },
    });
    // The chip printed its restart and bootloader lines up to the moment the power went.
    const restart = bootloaderErase.console.findIndex((line) => line.startsWith('rst:0xc (SW_CPU_RESET)'));
    expect(restart).toBeGreaterThanOrEqual(0);
    expect(bootloaderErase.console.slice(restart)).toContainEqual(
      expect.stringMatching(/boot: Partition Table:/),
    );
    // After the last operation the confirmed new image stays.
    expect((await campaign.cutAt(firstBoot.at(-1)!.operation)).outcome).not.toBe('no-boot');
  }, 60_000);

  it('defect sets-boot-at-begin: a cut in the image write boots only through the bootloader fallback (wrong-boot)', async () => {
    const campaign = new EmulatorCampaign(await targetFor('viperhttp', ['sets-boot-at-begin']), OPTIONS);
    const reference = await campaign.prepare();
    const writes = reference.filter(
      (operation) => operation.phase === 'write' && operation.kind === 'program',
    );
    const cut = await campaign.cutAt(writes[Math.floor(writes.length / 2)]!.operation);
    expect(cut.outcome).toBe('wrong-boot');
    expect(cut.evidence).toMatch(/fell back/);
  }, 60_000);

  it('replays a cut from its seed and operation on a fresh emulator: same operation torn, same outcome', async () => {
    const first = new EmulatorCampaign(await targetFor('viperhttp'), OPTIONS);
    const reference = await first.prepare();
    const point = reference.find((operation) => operation.phase === 'commit')!.operation + 1;
    const original = await first.cutAt(point);
    const again = new EmulatorCampaign(await targetFor('viperhttp'), OPTIONS);
    await again.prepare();
    const replayed = await again.cutAt(point);
    expect(replayed.point).toEqual(original.point);
    expect(replayed.tornSeed).toBe(original.tornSeed);
    expect(replayed.outcome).toBe(original.outcome);
  }, 90_000);
});

describe('EmulatorCampaign on an ESP8266 (web-update, eboot)', () => {
  async function cutMidCopy(defects: string[]) {
    const campaign = new EmulatorCampaign(await targetFor('web-update', defects), OPTIONS);
    const reference = await campaign.prepare();
    const copy = reference.filter((operation) => operation.phase === 'eboot-copy');
    expect(copy.length).toBeGreaterThan(2);
    expect(reference.some((operation) => operation.phase === 'commit')).toBe(false);
    return await campaign.cutAt(copy[Math.floor(copy.length / 2)]!.operation);
  }

  it('a cut in the middle of the eboot copy resumes at power-on and the new sketch runs', async () => {
    expect((await cutMidCopy([])).outcome).toBe('new');
  }, 60_000);

  it('defect eboot-clears-command-early: the same cut leaves a half-copied sketch that never boots', async () => {
    expect((await cutMidCopy(['eboot-clears-command-early'])).outcome).toBe('no-boot');
  }, 60_000);
});

describe('EmulatorCampaign in the transfer: the power goes at an exact count of image bytes received', () => {
  const TRANSFER: CampaignOptions = { ...OPTIONS, phases: ['transfer'] };

  /** The cut lands where asked, and the update's flash writes stop short of the reference's. */
  async function cutHalfway(profile: 'viperhttp' | 'web-update' | 'http-update', defects: string[] = []) {
    const campaign = new EmulatorCampaign(await targetFor(profile, defects), TRANSFER);
    const reference = await campaign.prepare();
    const imageBytes = imageSize(campaign);
    const bytes = Math.floor(imageBytes / 2) + 17;
    const cut = await campaign.cutAtReceived(bytes);
    expect(cut.point).toMatchObject({
      phase: 'transfer',
      requestedBytes: bytes,
      wireBytes: bytes,
      wireCount: 'received',
    });
    const done = Number(/(\d+) flash operations done/.exec(cut.evidence)?.[1]);
    const written = reference.filter((operation) => operation.phase === 'write').length;
    expect(done).toBeLessThan(written);
    return cut;
  }

  it('push, ESP32 (viperhttp chunks): the old image runs after a cut halfway through the image', async () => {
    expect((await cutHalfway('viperhttp')).outcome).toBe('old');
  }, 60_000);

  it('push, ESP8266 (web-update multipart): the old sketch runs; with writes-sketch-in-place the same cut bricks it', async () => {
    expect((await cutHalfway('web-update')).outcome).toBe('old');
    expect((await cutHalfway('web-update', ['writes-sketch-in-place'])).outcome).toBe('no-boot');
  }, 90_000);

  it('pull, ESP8266 (http-update from the harness server): the old sketch runs; the same cut with writes-sketch-in-place bricks it', async () => {
    expect((await cutHalfway('http-update')).outcome).toBe('old');
    expect((await cutHalfway('http-update', ['writes-sketch-in-place'])).outcome).toBe('no-boot');
  }, 90_000);

  it('refuses a count past the image, and a transfer sweep mixed with flash-operation phases', async () => {
    const target = await targetFor('viperhttp');
    const campaign = new EmulatorCampaign(target, TRANSFER);
    await campaign.prepare();
    await expect(campaign.cutAtReceived(imageSize(campaign) + 1)).rejects.toThrow(/from 1 to the image/);
    const mixed = new EmulatorCampaign(
      target,
      { ...OPTIONS, phases: ['transfer', 'write'] },
      campaign.prepared,
    );
    await expect(mixed.run()).rejects.toThrow(/swept alone/);
  }, 60_000);
});

function imageSize(campaign: EmulatorCampaign): number {
  return campaign.imageBytes;
}
