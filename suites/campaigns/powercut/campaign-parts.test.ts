import { describe, expect, it } from 'vitest';
import type { SeenBoot } from '../../framework/strategy/index.ts';
import { bisectBoundaries } from './bisect.ts';
import { type CampaignResult, campaignAxis, medianTimings } from './campaign-result.ts';
import { classifyBoots } from './classify.ts';
import { type CutResult, type Outcome, tornSeedFor } from './cut-point.ts';
import { phaseOperations } from './phases.ts';
import { campaignSvg, campaignTable } from './report.ts';
import { sweepPoints } from './sweep-points.ts';
import { outcomeWindows } from './windows.ts';

const versions = { old: 'v-old', new: 'v-new' };

function boot(version: string | undefined, options: Partial<SeenBoot> = {}): SeenBoot {
  return {
    platform: 'esp32',
    resetCode: 1,
    resetReason: 'POWERON_RESET',
    software: false,
    ...(version === undefined ? {} : { version }),
    fromLine: 0,
    lines: [],
    ...options,
  };
}

describe('classifyBoots', () => {
  it('tells old, new and rolled-back apart by what booted and whether the update had restarted the chip', () => {
    expect(classifyBoots([boot('v-old')], [], versions).outcome).toBe('old');
    expect(classifyBoots([boot('v-new')], [], versions).outcome).toBe('new');
    expect(classifyBoots([boot('v-old')], [boot(undefined, { software: true })], versions).outcome).toBe(
      'rolled-back',
    );
    expect(classifyBoots([boot('v-new'), boot('v-old', { software: true })], [], versions).outcome).toBe(
      'rolled-back',
    );
    expect(classifyBoots([boot('v-old')], [], versions, true).outcome).toBe('rolled-back');
  });

  it('calls no app named a brick, a reset loop broken, and a bootloader fallback or a third image a wrong boot', () => {
    expect(classifyBoots([boot(undefined), boot(undefined)], [], versions).outcome).toBe('no-boot');
    expect(classifyBoots([], [], versions).outcome).toBe('no-boot');
    expect(classifyBoots([boot('v-new'), boot('v-new'), boot('v-new')], [], versions).outcome).toBe('broken');
    const fellBack = boot('v-old', { lines: ['E (46) boot: OTA app partition slot 0 is not bootable'] });
    expect(classifyBoots([fellBack], [], versions)).toMatchObject({
      outcome: 'wrong-boot',
      evidence: /fell back/,
    });
    expect(classifyBoots([boot('1.0.0')], [], versions).outcome).toBe('wrong-boot');
  });
});

describe('phaseOperations', () => {
  const op = (index: number, offset: number, kind: 'erase-sector' | 'program' = 'program') => ({
    index,
    kind,
    offset,
    length: kind === 'program' ? 256 : 4096,
    completed: true,
  });

  it('ESP32: otadata before the image is the write (begin), after it the commit; after the restart the first boot', () => {
    const trace = {
      operations: [
        op(10, 0xd000, 'erase-sector'),
        op(11, 0x110000),
        op(12, 0xd000, 'erase-sector'),
        op(13, 0xd000),
        op(14, 0xd000),
      ],
      markers: [
        { at: 14, kind: 'boot' as const, detail: 'software' },
        { at: 15, kind: 'app' as const, detail: 'v-new' },
      ],
      count: 15,
      regions: [{ name: 'otadata', offset: 0xd000, size: 0x2000 }],
    };
    const phased = phaseOperations(trace, 10, { platform: 'esp32', otadata: trace.regions[0]! });
    expect(phased.map((operation) => [operation.operation, operation.phase])).toEqual([
      [0, 'write'],
      [1, 'write'],
      [2, 'commit'],
      [3, 'commit'],
      [4, 'first-boot'],
    ]);
  });

  it("ESP8266: the writes between the restart and the app are eboot's copy, none is a commit", () => {
    const trace = {
      operations: [op(0, 0x100000), op(1, 0x0, 'erase-sector'), op(2, 0x0), op(3, 0x1000)],
      markers: [
        { at: 1, kind: 'boot' as const, detail: 'software' },
        { at: 3, kind: 'app' as const, detail: 'v-new' },
      ],
      count: 4,
      regions: [],
    };
    expect(phaseOperations(trace, 0, { platform: 'esp8266' }).map((operation) => operation.phase)).toEqual([
      'write',
      'eboot-copy',
      'eboot-copy',
      'first-boot',
    ]);
  });
});

describe('sweepPoints', () => {
  const operations = Array.from({ length: 300 }, (_, index) => ({
    operation: index,
    phase: index < 290 ? ('write' as const) : ('commit' as const),
    kind: 'program' as const,
    address: index * 256,
    length: 256,
  }));

  it('keeps every operation of a short phase and both ends of each, the same for the same seed', () => {
    const points = sweepPoints(operations, ['write', 'commit'], 40, 3);
    expect(points).toHaveLength(40);
    for (const required of [0, 289, 290, 295, 299]) expect(points).toContain(required);
    expect(sweepPoints(operations, ['write', 'commit'], 40, 3)).toEqual(points);
    expect(sweepPoints(operations, ['write', 'commit'], 40, 4)).not.toEqual(points);
  });

  it('takes every operation when there are fewer than the points asked for, and only the phases asked for', () => {
    expect(sweepPoints(operations, ['commit'], 40, 1)).toEqual([
      290, 291, 292, 293, 294, 295, 296, 297, 298, 299,
    ]);
  });
});

function cut(operation: number, outcome: Outcome): CutResult {
  return {
    seed: 1,
    point: { phase: 'write', operation, address: operation },
    outcome,
    evidence: '',
    console: [],
  };
}

describe('bisectBoundaries and outcomeWindows', () => {
  it('narrows each change of outcome to adjacent operations, in few cuts', async () => {
    const truth = (operation: number): Outcome =>
      operation < 137 ? 'old' : operation < 140 ? 'no-boot' : 'new';
    const asked: number[] = [];
    const found = await bisectBoundaries([cut(0, 'old'), cut(255, 'new')], async (operation) => {
      asked.push(operation);
      return cut(operation, truth(operation));
    });
    const windows = outcomeWindows([cut(0, 'old'), cut(255, 'new'), ...found]);
    expect(windows.map((window) => [window.outcome, window.from, window.to])).toEqual([
      ['old', 0, 136],
      ['no-boot', 137, 139],
      ['new', 140, 255],
    ]);
    expect(asked.length).toBeLessThan(24);
  });

  it('needs no cut when neighbours agree', async () => {
    const found = await bisectBoundaries([cut(0, 'old'), cut(9, 'old')], async () => {
      throw new Error('no cut expected');
    });
    expect(found).toEqual([]);
  });
});

describe('report', () => {
  it('draws each cut as a point in its outcome lane and lists its replay id and window', () => {
    const cuts = [cut(0, 'old'), cut(5, 'no-boot')];
    const result: CampaignResult = {
      target: 'probe',
      profile: 'viperhttp',
      platform: 'esp32',
      method: 'control-plane',
      seed: 1,
      phases: ['write'],
      versions,
      reference: [],
      cuts,
      windows: outcomeWindows(cuts),
      wallMs: 1200,
    };
    const svg = campaignSvg(result);
    expect(svg.match(/<circle /g)).toHaveLength(2);
    expect(svg).toContain('1:5 write');
    const table = campaignTable(result);
    expect(table).toContain('| no-boot (unsafe) | 5 | 5 |');
    expect(table).toContain('| 1:0 | write | 0 |');
  });
});

describe('campaign axis and per-cut timings', () => {
  const base = { method: 'control-plane' as const, phases: ['write' as const], cuts: [] as CutResult[] };

  it('names what the cut points count: flash operations, received bytes, wire bytes or console lines', () => {
    expect(campaignAxis(base).short).toBe('flash op');
    expect(campaignAxis({ ...base, phases: ['transfer'] }).short).toBe('received bytes');
    expect(campaignAxis({ ...base, method: 'power-driver', phases: ['transfer'] }).short).toBe('wire bytes');
    const line = { ...cut(0, 'new'), point: { phase: 'first-boot' as const, lineOccurrence: 1 } };
    expect(campaignAxis({ ...base, method: 'power-driver', cuts: [line] }).short).toBe('console line');
  });

  it('gives the median of each stage over the timed cuts, and nothing when none was timed', () => {
    const timed = (restore: number, at: number, observe: number) => ({
      ...cut(0, 'old'),
      timingsMs: { restore, cut: at, observe },
    });
    expect(medianTimings({ cuts: [cut(0, 'old')] })).toBeUndefined();
    expect(medianTimings({ cuts: [timed(10, 600, 400), timed(30, 700, 900), timed(20, 650, 450)] })).toEqual({
      restore: 20,
      cut: 650,
      observe: 450,
    });
  });
});

describe('tornSeedFor', () => {
  it('depends on the seed and the operation only', () => {
    expect(tornSeedFor(1, 5)).toBe(tornSeedFor(1, 5));
    expect(tornSeedFor(1, 5)).not.toBe(tornSeedFor(1, 6));
    expect(tornSeedFor(2, 5)).not.toBe(tornSeedFor(1, 5));
  });
});
