import { describe, expect, it } from 'vitest';
import { PowercutFlagError, parseFlags } from './powercut.ts';

const flags = (extra: Record<string, unknown>) => ({
  target: 't',
  phase: [],
  defect: [],
  replay: [],
  ...extra,
});

describe('powercut flags', () => {
  it('--at-line takes a regular expression; one that does not compile is refused naming the flag', () => {
    expect(parseFlags(flags({ atLine: '^rst:0x' })).atLine).toEqual(/^rst:0x/);
    expect(() => parseFlags(flags({ atLine: '(' }))).toThrow(PowercutFlagError);
    expect(() => parseFlags(flags({ atLine: '(' }))).toThrow(/--at-line \(/);
  });

  it('--by takes acknowledged or sent, and not together with --at-line', () => {
    expect(parseFlags(flags({ by: 'sent' })).by).toBe('sent');
    expect(() => parseFlags(flags({ by: 'received' }))).toThrow(/--by received/);
    expect(() => parseFlags(flags({ by: 'sent', atLine: 'x' }))).toThrow(/not both/);
  });

  it('--phase transfer is accepted (an emulator sweeps it in image bytes received); an unknown phase is not', () => {
    expect(parseFlags(flags({ phase: ['transfer'] })).phases).toEqual(['transfer']);
    expect(() => parseFlags(flags({ phase: ['download'] }))).toThrow(/--phase download/);
  });
});
