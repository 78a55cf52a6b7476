import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PowerTimeoutError } from './errors.ts';
import { ManualPower, type ManualTerminal, manualPowerRefusal } from './manual-power.ts';

/** A scripted person at a terminal (mock: no person exists here): presses Enter when asked. */
function scriptedTerminal(delayMs = 0): ManualTerminal & { transcript: () => string; askedAt: number[] } {
  const input = new PassThrough();
  const output = new PassThrough();
  let transcript = '';
  const askedAt: number[] = [];
  output.on('data', (chunk: Buffer) => {
    transcript += chunk.toString();
    askedAt.push(Date.now());
    setTimeout(() => input.write('\n'), delayMs);
  });
  return { input, output, close: () => {}, transcript: () => transcript, askedAt };
}

describe('manual power', () => {
  it('is refused under CI, and without a terminal, naming why', () => {
    expect(manualPowerRefusal({ CI: 'true' })).toBe(
      "power type 'manual' needs a person at the bench; refused under CI (CI=true)",
    );
    // This test process has no controlling terminal (vitest's workers never do).
    expect(manualPowerRefusal({})).toMatch(/needs a person at a terminal; this run has none \(\/dev\/tty: /);
    expect(manualPowerRefusal({ CI: 'false' })).toBe(manualPowerRefusal({}));
  });

  it('asks a person at the terminal (scripted here) for off and on, keeping the off time between them', async () => {
    const terminal = scriptedTerminal();
    const power = new ManualPower({ targetName: 'bench-esp32', offMs: 150, terminal });
    await power.cycle();
    const prompts = terminal
      .transcript()
      .split('\n')
      .filter(Boolean)
      .map((line) => line.trimEnd());
    expect(prompts).toEqual([
      '[ota-conformance] target bench-esp32: switch the power OFF, then press Enter:',
      expect.stringMatching(
        /^\[ota-conformance\] target bench-esp32: keep it off for at least 150 ms \(\d+ ms so far\), then switch the power ON, then press Enter:$/,
      ),
    ]);
    expect(terminal.askedAt[1]! - terminal.askedAt[0]!).toBeGreaterThanOrEqual(145);
    await power.on();
    expect(terminal.transcript()).toMatch(/switch the power ON, then press Enter: $/);
  });

  it('gives up when nobody presses Enter, naming target and step', async () => {
    const input = new PassThrough();
    const terminal: ManualTerminal = { input, output: new PassThrough(), close: () => {} };
    const power = new ManualPower({ targetName: 'bench-esp32', terminal, promptTimeoutMs: 100 });
    const error = (await power.off().catch((caught: unknown) => caught)) as PowerTimeoutError;
    expect(error).toBeInstanceOf(PowerTimeoutError);
    expect(error.message).toBe("target 'bench-esp32': step 'power off': nobody pressed Enter within 100 ms");
  });
});
