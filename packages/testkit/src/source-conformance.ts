import { createHash } from 'node:crypto';
import { closeSync, readSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SourceEntry, SourceInstance } from '@cairn/core';
import { backupContext } from './context.js';

export type MakeSource = () => Promise<{ source: SourceInstance; cleanup?: () => Promise<void> }>;

/**
 * The behaviour every source must have, as a vitest suite. `makeSource` is called before each test
 * and must return a source with some content (at least one entry, ideally nested directories and files).
 */
export function describeSourceConformance(name: string, makeSource: MakeSource): void {
  describe(`${name}: source conformance`, () => {
    let source: SourceInstance;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      const made = await makeSource();
      source = made.source;
      cleanup = made.cleanup;
    });
    afterEach(async () => {
      await cleanup?.();
    });

    const entriesOf = async () => {
      const ctx = backupContext();
      const entries: SourceEntry[] = [];
      for await (const entry of source.entries(ctx)) entries.push(entry);
      return { entries, warnings: ctx.warnings };
    };

    it('declares its kind, name, description and capabilities', () => {
      expect(source.kind).toBe('source');
      expect(source.plugin.length).toBeGreaterThan(0);
      expect(source.name).toMatch(/^[^/]+$/);
      expect(source.name).not.toMatch(/^\.\.?$/);
      expect(source.description.length).toBeGreaterThan(0);
      expect(typeof source.capabilities.incremental).toBe('boolean');
      expect(Array.isArray(source.capabilities.restoreModes)).toBe(true);
    });

    it('yields well-formed entries with relative, clean paths', async () => {
      const { entries } = await entriesOf();
      expect(entries.length).toBeGreaterThan(0);
      const seen = new Set<string>();
      for (const entry of entries) {
        expect(entry.path.length, 'empty path').toBeGreaterThan(0);
        expect(entry.path.startsWith('/'), `${entry.path} is absolute`).toBe(false);
        for (const segment of entry.path.split('/')) expect(['', '.', '..'], `${entry.path} has a bad segment`).not.toContain(segment);
        expect(entry.path).not.toContain('\0');
        expect(seen.has(entry.path), `${entry.path} appears twice`).toBe(false);
        seen.add(entry.path);
        expect(['file', 'dir', 'symlink']).toContain(entry.type);
        expect(Number.isInteger(entry.mode) && entry.mode >= 0).toBe(true);
        expect(Number.isFinite(entry.mtimeMs)).toBe(true);
        expect(Number.isSafeInteger(entry.size) && entry.size >= 0).toBe(true);
        if (entry.type === 'symlink') expect(typeof entry.linkTarget).toBe('string');
        if (entry.type === 'file') expect(typeof entry.open).toBe('function');
        if (entry.metadata !== undefined) expect(JSON.parse(JSON.stringify(entry.metadata))).toEqual(entry.metadata);
      }
    });

    it('walks depth-first: a directory before its contents, its contents before its next sibling', async () => {
      const { entries } = await entriesOf();
      const types = new Map(entries.map((e) => [e.path, e.type]));
      const open: string[] = []; // the directories we are inside of, outermost first
      for (const entry of entries) {
        const parent = entry.path.includes('/') ? entry.path.slice(0, entry.path.lastIndexOf('/')) : '';
        while (open.length > 0 && !(parent === open.at(-1) || parent.startsWith(`${open.at(-1)}/`))) open.pop();
        if (parent !== '') {
          expect(types.get(parent), `${entry.path}: its parent is not a directory entry`).toBe('dir');
          expect(open.at(-1), `${entry.path} comes after its parent's subtree was left, or before its parent`).toBe(parent);
        }
        if (entry.type === 'dir') open.push(entry.path);
      }
    });

    it('streams file contents of exactly the declared size', async () => {
      const { entries } = await entriesOf();
      for (const entry of entries.filter((e) => e.type === 'file')) {
        let size = 0;
        for await (const part of await entry.open!()) {
          expect(part).toBeInstanceOf(Uint8Array);
          size += part.byteLength;
        }
        expect(size, `${entry.path}`).toBe(entry.size);
      }
    });

    // An entry is opened once, one way or the other: the stream comes from a second walk.
    it('opens as a descriptor (openFile, when offered) the declared size, the bytes a second walk streams', async () => {
      const { entries } = await entriesOf();
      const again = new Map((await entriesOf()).entries.map((e) => [e.path, e]));
      for (const entry of entries.filter((e) => e.type === 'file' && e.openFile)) {
        const fd = await entry.openFile!();
        expect(Number.isInteger(fd), `${entry.path}: openFile gave no file descriptor`).toBe(true);
        const read = createHash('sha256');
        let size = 0;
        try {
          const buffer = Buffer.alloc(1024 * 1024);
          for (let n = readSync(fd, buffer, 0, buffer.length, 0); n > 0; n = readSync(fd, buffer, 0, buffer.length, size)) {
            read.update(buffer.subarray(0, n));
            size += n;
          }
        } finally {
          closeSync(fd);
        }
        expect(size, `${entry.path}`).toBe(entry.size);
        const streamed = createHash('sha256');
        for await (const part of await again.get(entry.path)!.open!()) streamed.update(part);
        expect(read.digest('hex'), `${entry.path}`).toBe(streamed.digest('hex'));
      }
    });

  });
}
