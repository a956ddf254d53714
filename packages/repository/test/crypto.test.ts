import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ENVELOPE_OVERHEAD, sealInto, unseal } from '../src/crypto.js';

describe('sealInto', () => {
  it('seals parts larger than one cipher piece, and empty ones, into one envelope that opens to their concatenation', () => {
    const key = randomBytes(32);
    const parts = [randomBytes(10), Buffer.alloc(0), randomBytes(600 * 1024 + 3), randomBytes(1024 * 1024 + 17)];
    const plain = Buffer.concat(parts);
    const target = Buffer.alloc(5 + plain.length + ENVELOPE_OVERHEAD + 7);
    const length = sealInto(key, target, 5, ...parts);
    expect(length).toBe(plain.length + ENVELOPE_OVERHEAD);
    expect(unseal(key, target.subarray(5, 5 + length), 'test envelope').equals(plain)).toBe(true);
    // A flipped bit anywhere in the body fails authentication.
    target[5 + 12 + 700 * 1024]! ^= 1;
    expect(() => unseal(key, target.subarray(5, 5 + length), 'test envelope')).toThrow(/failed authentication/);
  });
});
