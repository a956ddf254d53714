import { describe, expect, it } from 'vitest';
import { TargetError, blobKeyProblem, checkBlobKey } from '../src/index.js';

describe('blob keys', () => {
  it('accept relative /-separated keys and refuse what could leave the store or break a protocol', () => {
    expect(blobKeyProblem('data/ab/ab12')).toBeUndefined();
    expect(blobKeyProblem('dätä/ファイル')).toBeUndefined();
    expect(blobKeyProblem('')).toBe('it is empty');
    expect(blobKeyProblem('/etc/passwd')).toBe('it starts with "/"');
    expect(blobKeyProblem('data/../../x')).toBe('it has a ".." segment');
    expect(blobKeyProblem('data//x')).toBe('it has an empty segment');
    expect(blobKeyProblem('a\0b')).toBe('it contains a NUL byte');
    expect(blobKeyProblem('a\r\nDELE x', { forbidden: { pattern: /[\0\r\n]/, what: 'a NUL byte or a line break' } })).toBe('it contains a NUL byte or a line break');
    expect(blobKeyProblem('data/x.tmp-0123456789ab', { temporaryNames: true })).toBe('it ends like a temporary upload');
    expect(blobKeyProblem('data/x.tmp-0123456789ab')).toBeUndefined();
    expect(blobKeyProblem('k'.repeat(901), { maxBytes: 900 })).toBe('it is longer than 900 bytes');
  });

  it('throw TARGET_INVALID_KEY naming the plugin', () => {
    const error = (() => {
      try {
        return checkBlobKey('../x', 'sftp');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(TargetError);
    expect((error as TargetError).code).toBe('TARGET_INVALID_KEY');
    expect((error as Error).message).toBe('[sftp] invalid key "../x": it has a ".." segment');
  });
});
