import { describe, expect, it } from 'vitest';
import {
  formatBytes, formatCount, formatDuration, formatRate, localInputToIso, parentPath, pathCrumbs, progressFigures, restoreFolderName, restoreFolderProblem, shortId,
} from '../app/src/format.js';

describe('formatBytes', () => {
  it('shows bytes, then binary units with one decimal below ten', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(10 * 1024 * 1024 + 1)).toBe('10 MiB');
    expect(formatBytes(3.25 * 1024 ** 4)).toBe('3.3 TiB');
  });
  it('shows a dash for what is unknown or not a size', () => {
    for (const value of [undefined, null, Number.NaN, -1, Number.POSITIVE_INFINITY]) expect(formatBytes(value)).toBe('—');
  });
});

describe('formatDuration', () => {
  it('reads like a person would say it', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(42_000)).toBe('42 s');
    expect(formatDuration(185_000)).toBe('3 min 5 s');
    expect(formatDuration(120_000)).toBe('2 min');
    expect(formatDuration((2 * 60 + 4) * 60_000)).toBe('2 h 4 min');
    expect(formatDuration(73 * 3_600_000)).toBe('3 d 1 h');
    expect(formatDuration(undefined)).toBe('—');
  });
});

describe('small formats', () => {
  it('formats counts, rates and ids', () => {
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatRate(2 * 1024 * 1024)).toBe('2.0 MiB/s');
    expect(formatRate(undefined)).toBe('—');
    expect(shortId('0123456789abcdef')).toBe('01234567');
  });
  it('turns a datetime-local value into UTC and rejects nonsense', () => {
    expect(localInputToIso('')).toBeUndefined();
    expect(localInputToIso('not a date')).toBeUndefined();
    expect(localInputToIso('2025-01-02T03:04:05')).toBe(new Date(2025, 0, 2, 3, 4, 5).toISOString());
  });
  it('walks snapshot paths', () => {
    expect(parentPath('a/b/c')).toBe('a/b');
    expect(parentPath('a')).toBe('');
    expect(pathCrumbs('a/b')).toEqual([{ name: 'a', path: 'a' }, { name: 'b', path: 'a/b' }]);
    expect(pathCrumbs('')).toEqual([]);
  });
});

describe('progressFigures', () => {
  const started = '2025-01-01T00:00:00.000Z';
  const at = (seconds: number): number => Date.parse(started) + seconds * 1000;

  it('averages the rate over the run and derives the time left from the ratio', () => {
    // 25 MiB of 100 MiB after 10 s: 2.5 MiB/s, 75 MiB to go → 30 s.
    const mib = 1024 * 1024;
    const figures = progressFigures({ bytesDone: 25 * mib, filesDone: 7, ratio: 0.25 }, started, at(10));
    expect(figures.rate).toBeCloseTo(2.5 * mib);
    expect(figures.bytesTotal).toBeCloseTo(100 * mib);
    expect(figures.etaMs).toBeCloseTo(30_000);
    expect(figures.filesDone).toBe(7);
  });

  it('takes the ratio from a byte total when the run gives no ratio', () => {
    const figures = progressFigures({ bytesDone: 500, bytesTotal: 2000 }, started, at(5));
    expect(figures.ratio).toBe(0.25);
    expect(figures.etaMs).toBeCloseTo(15_000);
  });

  it('knows no time left without a total, and none before anything was read', () => {
    expect(progressFigures({ bytesDone: 500 }, started, at(5)).etaMs).toBeUndefined();
    expect(progressFigures({ bytesDone: 500 }, started, at(5)).ratio).toBeUndefined();
    expect(progressFigures({ bytesDone: 0, ratio: 0 }, started, at(5))).toMatchObject({ rate: undefined, etaMs: undefined });
    expect(progressFigures(undefined, undefined, at(5))).toMatchObject({ bytesDone: 0, filesDone: 0, rate: undefined, etaMs: undefined });
  });

  it('clamps the ratio and reports nothing left when done', () => {
    const figures = progressFigures({ bytesDone: 10, ratio: 1.2 }, started, at(1));
    expect(figures.ratio).toBe(1);
    expect(figures.etaMs).toBe(0);
  });

  it('falls back to elapsed time and ratio when the ratio comes without bytes', () => {
    // A quarter done after 20 s of a run that counts files, not bytes: 60 s to go.
    expect(progressFigures({ filesDone: 3, ratio: 0.25 }, started, at(20)).etaMs).toBeCloseTo(60_000);
  });
});

describe('restore folders', () => {
  it('names a new folder after the time', () => {
    expect(restoreFolderName(new Date('2026-11-22T10:00:05.123Z'))).toBe('restore-2026-11-22-10-00-05');
  });
  it('accepts a name or a path inside the restore folder, and explains what it refuses', () => {
    for (const ok of ['restore-2026-11-22-10-00', 'docs/today', ' spaced ', './here', 'a..b']) expect(restoreFolderProblem(ok), ok).toBeUndefined();
    expect(restoreFolderProblem('/tmp/x')).toMatch(/without a leading \//);
    for (const bad of ['..', '../x', 'a/../../b']) expect(restoreFolderProblem(bad), bad).toMatch(/cannot contain "\.\."/);
    for (const empty of ['', '  ', '.', './']) expect(restoreFolderProblem(empty), empty).toMatch(/^Enter a name/);
  });
});
