import { describe, expect, it } from 'vitest';
import { compress, decompress } from '../src/compression.js';
import { blobId, generateMasterKeys, seal, unseal } from '../src/crypto.js';
import { SealPool } from '../src/seal-pool.js';
import { randomData } from './helpers.js';

// The worker repeats the blob formats (it cannot import ours); this keeps the two in step.
describe('SealPool', () => {
  const inputs = [Buffer.from('compressible '.repeat(10_000)), randomData(5, 300_000), Buffer.alloc(0), Buffer.from('x')];

  it('compresses and seals blobs exactly as the main thread reads them', async () => {
    const keys = generateMasterKeys();
    const pool = new SealPool(keys, 2);
    try {
      const envelopes = await Promise.all(inputs.map((data) => pool.seal(data, 3)));
      for (const [i, data] of inputs.entries()) {
        const plain = await decompress(unseal(keys.encryption, envelopes[i]!, 'test blob'), 'test blob');
        expect(plain.equals(data)).toBe(true);
      }
      expect(envelopes[0]!.length).toBeLessThan(inputs[0]!.length / 10);
      expect(envelopes[1]!.length).toBe(inputs[1]!.length + 1 + 28);
    } finally {
      await pool.close();
    }
  });

  it('opens blobs the main thread sealed, and refuses one whose content does not match its id', async () => {
    const keys = generateMasterKeys();
    const pool = new SealPool(keys, 1);
    try {
      for (const data of inputs) {
        const envelope = seal(keys.encryption, ...(await compress(data, 3)));
        const opened = await pool.open(envelope, blobId(keys.id, data), data.length, 'test blob');
        expect(opened.equals(data)).toBe(true);
      }
      const envelope = seal(keys.encryption, ...(await compress(inputs[0]!, 3)));
      await expect(pool.open(envelope, blobId(keys.id, inputs[1]!), inputs[0]!.length, 'test blob')).rejects.toMatchObject({ code: 'REPO_CORRUPT' });
    } finally {
      await pool.close();
    }
  });

  it('verifies blobs without returning them, and refuses a damaged or mismatched one', async () => {
    const keys = generateMasterKeys();
    const pool = new SealPool(keys, 1);
    try {
      for (const data of inputs) {
        const envelope = seal(keys.encryption, ...(await compress(data, 3)));
        await expect(pool.verify(envelope, blobId(keys.id, data), data.length, 'test blob')).resolves.toBeUndefined();
      }
      const envelope = seal(keys.encryption, ...(await compress(inputs[1]!, 3)));
      await expect(pool.verify(envelope, blobId(keys.id, inputs[0]!), inputs[1]!.length, 'test blob')).rejects.toMatchObject({ code: 'REPO_CORRUPT' });
      envelope[20]! ^= 1;
      await expect(pool.verify(envelope, blobId(keys.id, inputs[1]!), inputs[1]!.length, 'test blob')).rejects.toMatchObject({
        code: 'REPO_CORRUPT',
        message: expect.stringContaining('failed authentication'),
      });
    } finally {
      await pool.close();
    }
  });
});
