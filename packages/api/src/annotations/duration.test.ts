import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration (Go syntax)', () => {
  const valid: [string, number][] = [
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1h0m0s', 3_600_000],
    ['720h', 2_592_000_000],
    ['1.5h', 5_400_000],
    ['250ms', 250],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['2000000ns', 2],
    ['0', 0],
    ['0s', 0],
    ['1m30s500ms', 90_500],
  ];
  for (const [text, ms] of valid) {
    it(`${text} = ${ms} ms`, () => expect(parseDuration(text)).toEqual({ ok: true, milliseconds: ms }));
  }

  const invalid = ['', ' ', '30', '30 s', '30S', '1d', '-5m', '+5m', '.5s', '1.s', 'h', '1h 30m', '5 minutes', 'ms', '1e3s', 'NaN', '5m!'];
  for (const text of invalid) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      const result = parseDuration(text);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.expected).toMatch(/30s, 5m, 1h30m/);
    });
  }
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [250, '250ms'],
    [30_000, '30s'],
    [90_500, '1m30.5s'],
    [5_400_000, '1h30m0s'],
  ])('%d ms -> %s (and back)', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toEqual({ ok: true, milliseconds: ms });
  });
});
