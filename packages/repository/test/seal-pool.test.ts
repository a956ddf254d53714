import { describe, expect, it } from 'vitest';
import { decompress } from '../src/compression.js';
import { blobId, generateMasterKeys, unseal } from '../src/crypto.js';
import { SealPool } from '../src/seal-pool.js';
import { randomData } from './helpers.js';

// The worker repeats the blob formats (it cannot import ours); this keeps the two in step.
describe('SealPool', () => {
  it('names, compresses and seals blobs exactly as the main thread reads them', async () => {
    const keys = generateMasterKeys();
    const pool = new SealPool(keys, 2);
    try {
      const inputs = [Buffer.from('compressible '.repeat(10_000)), randomData(5, 300_000), Buffer.alloc(0), Buffer.from('x')];
      const sealed = await Promise.all(inputs.map((data) => pool.seal(data, 3)));
      for (const [i, data] of inputs.entries()) {
        expect(sealed[i]!.id).toBe(blobId(keys.id, data));
        const plain = await decompress(unseal(keys.encryption, sealed[i]!.envelope, 'test blob'), 'test blob');
        expect(plain.equals(data)).toBe(true);
      }
      expect(sealed[0]!.envelope.length).toBeLessThan(inputs[0]!.length / 10);
      expect(sealed[1]!.envelope.length).toBe(inputs[1]!.length + 1 + 28);
    } finally {
      await pool.close();
    }
  });
});
