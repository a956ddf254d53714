import { describe, expect, it } from 'vitest';
import type { Snapshot } from '@cairn/core';
import { backupLine, formatBytes, formatDuration, formatMode, formatTime, snapshotJson, table } from '../src/output.js';
import { createProgressBar, renderProgressLine } from '../src/progress.js';
import { describeError } from '../src/errors.js';
import { ConfigError, RepositoryError, TargetError } from '@cairn/core';

const snapshot: Snapshot = {
  id: '1a2b3c4d'.padEnd(64, 'e'),
  time: '2024-05-01T13:45:10.000Z',
  host: 'box',
  username: 'ann',
  sources: [{ name: 'data', kind: 'files', description: '/data' }],
  paths: ['/data'],
  tags: ['daily'],
  tree: 'f'.repeat(64),
  programVersion: 'cairn 0.1.0',
  summary: {
    filesNew: 12, filesChanged: 3, filesUnchanged: 8185, dirs: 40, bytesRead: 850 * 1024 * 1024, bytesTotal: 900 * 1024 * 1024,
    bytesAdded: 2.1 * 1024 * 1024, blobsAdded: 20, warnings: 0, complete: true, durationMs: 12_300,
  },
};

describe('formatting', () => {
  it('formats sizes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(850 * 1024 * 1024)).toBe('850.0 MiB');
    expect(formatBytes(1024 * 1024 - 1)).toBe('1.0 MiB');
    expect(formatBytes(3 * 1024 ** 4)).toBe('3.0 TiB');
  });

  it('formats durations', () => {
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(12_300)).toBe('12.3s');
    expect(formatDuration(245_000)).toBe('4m05s');
    expect(formatDuration(7_380_000)).toBe('2h03m');
  });

  it('formats modes like ls', () => {
    expect(formatMode('dir', 0o755)).toBe('drwxr-xr-x');
    expect(formatMode('file', 0o644)).toBe('-rw-r--r--');
    expect(formatMode('symlink', 0o777)).toBe('lrwxrwxrwx');
  });

  it('formats local times', () => {
    expect(formatTime(new Date(2024, 0, 2, 3, 4, 5).getTime())).toBe('2024-01-02 03:04:05');
  });

  it('aligns tables', () => {
    expect(table(['A', 'Long'], [['xyz', '1'], ['', 'last']])).toBe('A    Long\nxyz  1\n     last');
  });

  it('prints the backup summary line', () => {
    expect(backupLine(snapshot)).toBe('snapshot 1a2b3c4d saved: 8200 files (12 new, 3 changed, 8185 unchanged), 850.0 MiB read, 2.1 MiB added in 12.3s');
  });

  it('gives snapshots a stable JSON shape', () => {
    expect(Object.keys(snapshotJson(snapshot))).toEqual(['id', 'shortId', 'time', 'host', 'paths', 'tags', 'summary']);
    expect(snapshotJson(snapshot).shortId).toBe('1a2b3c4d');
  });
});

describe('progress', () => {
  it('renders files, bytes, rate, percentage, ETA and the current file', () => {
    const line = renderProgressLine('restore', { filesDone: 10, bytesDone: 50 * 1024 * 1024, bytesTotal: 100 * 1024 * 1024, currentPath: 'docs/a.txt' }, 10_000, 200);
    expect(line).toBe('restore  10 files  50.0 MiB/100.0 MiB  5.0 MiB/s  50%  ETA 10.0s  docs/a.txt');
  });

  it('shortens the current path from the left to fit', () => {
    const line = renderProgressLine('backup', { filesDone: 1, bytesDone: 0, currentPath: `${'deep/'.repeat(30)}file.bin` }, 0, 60);
    expect(line.length).toBeLessThanOrEqual(60);
    expect(line.endsWith('file.bin')).toBe(true);
    expect(line).toContain('…');
  });

  it('shows no ETA without a total', () => {
    expect(renderProgressLine('backup', { filesDone: 5, bytesDone: 2048, bytesAdded: 1024 }, 2000, 120)).toBe('backup  5 files  2.0 KiB  +1.0 KiB added  1.0 KiB/s');
  });

  it('redraws at most ten times a second and erases itself when done', () => {
    let clock = 1_000;
    const writes: string[] = [];
    const bar = createProgressBar({ write: (t: string) => writes.push(t), isTTY: true, columns: 80 }, { enabled: true, label: 'backup', now: () => clock });
    clock += 200;
    bar.update({ filesDone: 1, bytesDone: 10 });
    for (let i = 0; i < 50; i++) {
      clock += 1;
      bar.update({ filesDone: 2 + i, bytesDone: 10 });
    }
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^\rbackup {2}1 file {2}/);
    bar.done();
    expect(writes).toHaveLength(2);
    expect(writes[1]).toBe('\r\x1b[K');
    bar.update({ filesDone: 100 });
    expect(writes).toHaveLength(2);
  });

  it('writes nothing when disabled', () => {
    const writes: string[] = [];
    const bar = createProgressBar({ write: (t: string) => writes.push(t) }, { enabled: false, label: 'backup' });
    bar.update({ filesDone: 1 });
    bar.done();
    expect(writes).toEqual([]);
  });
});

describe('describeError', () => {
  it('maps repository errors to one actionable line and exit 1', () => {
    expect(describeError(new RepositoryError('REPO_WRONG_PASSWORD', 'x'), { repo: '/r' })).toEqual({ message: 'wrong password for repository /r: check CAIRN_PASSWORD or --password-file', exitCode: 1 });
    expect(describeError(new RepositoryError('REPO_NOT_FOUND', 'x'), { repo: '/r' })).toEqual({ message: 'no repository at /r: run `cairn init --repo /r` first', exitCode: 1 });
    expect(describeError(new TargetError('TARGET_PERMISSION', 'cannot write\n/r/x', { plugin: 'local' })).message).toBe('[local] cannot write; /r/x');
  });

  it('maps config errors to exit 2 with every problem', () => {
    const error = new ConfigError('invalid options', { problems: ['[files] path: required', '[files] excludes: expected array'] });
    expect(describeError(error)).toEqual({ message: 'invalid configuration: [files] path: required; [files] excludes: expected array', exitCode: 2 });
  });

  it('maps unexpected errors to their message and exit 1', () => {
    expect(describeError(new TypeError('boom'))).toEqual({ message: 'boom', exitCode: 1 });
    expect(describeError('weird')).toEqual({ message: 'weird', exitCode: 1 });
  });
});

describe('sourceNames', () => {
  it('numbers colliding names stably', async () => {
    const { sourceNames } = await import('../src/commands/backup.js');
    expect(sourceNames(['/a/data', '/b/data', '/c/docs', '/', '/d/data'])).toEqual(['data', 'data-2', 'docs', 'root', 'data-3']);
  });
});
