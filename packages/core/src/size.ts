import { z } from 'zod';

const UNITS: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

/** A size as bytes, or as text with a unit: `500MB`, `10 GiB`, `1.5TB` (decimal kB/MB/GB/TB, binary KiB/MiB/GiB/TiB). */
export const sizeSchema = z.custom<number | string>(() => true).transform((value, ctx) => {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(value) : null;
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined || Number(match[1]) <= 0) {
    ctx.addIssue({ code: 'custom', message: `expected a size such as 500MB or 10GiB, or a whole number of bytes, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return Math.round(Number(match[1]) * unit);
});

const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `1.5 GiB`, for messages. */
export function formatSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BINARY.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${BINARY[unit]}`;
}
