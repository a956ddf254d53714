import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../app/src/api.js';
import { mergeLogs } from '../app/src/logs.js';

const line = (seq: number | undefined, message: string, second = 0): LogEntry => ({
  ...(seq === undefined ? {} : { seq }), time: `2025-01-01T00:00:0${second}.000Z`, level: 'info', message,
});

describe('mergeLogs', () => {
  it('shows a line heard live and then loaded once, in seq order', () => {
    const merged = mergeLogs([line(1, 'a'), line(2, 'b')], [line(3, 'c'), line(2, 'b')]);
    expect(merged.map((item) => item.message)).toEqual(['a', 'b', 'c']);
  });
  it('orders by time, whatever order the lines came in', () => {
    expect(mergeLogs([line(2, 'later', 5), line(1, 'first', 1)], [line(undefined, 'live', 3)]).map((item) => item.message)).toEqual(['first', 'live', 'later']);
  });
  it('drops a live line without seq that the load already had', () => {
    expect(mergeLogs([line(1, 'a', 1)], [line(undefined, 'a', 1), line(undefined, 'b', 2)]).map((item) => item.message)).toEqual(['a', 'b']);
  });
});
