import { describe, expect, it } from 'vitest';
import { streamGiveUpWaitMs, streamTimeoutMs } from './device-timeouts.ts';

describe('the device-derived stream wait', () => {
  it("is the ESP8266 Updater's 60 s, the ESP32 Update's 300 × (1 s read + 100 ms), or the rig's limit", () => {
    expect(streamTimeoutMs({ platform: 'esp8266' })).toBe(60_000);
    expect(streamTimeoutMs({ platform: 'esp32' })).toBe(330_000);
    expect(streamTimeoutMs({ platform: 'esp8266', limits: { streamTimeoutMs: 2_000 } })).toBe(2_000);
  });

  it('never gives up before the device: its timeout plus at least 5 s, or the step timeout when longer', () => {
    expect(streamGiveUpWaitMs({ platform: 'esp8266' })).toBe(65_000);
    expect(streamGiveUpWaitMs({ platform: 'esp8266', limits: { stepTimeoutMs: 8_000 } })).toBe(68_000);
  });
});
