import { closeSync, readSync, writeSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { Spool } from '../src/spool.js';

const folders = async (prefix: string) => (await readdir(tmpdir())).filter((name) => name.startsWith(prefix));
async function read(content: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const part of content) parts.push(part);
  return Buffer.concat(parts).toString();
}
async function* chunks(...texts: string[]) {
  for (const text of texts) yield Buffer.from(text);
}

describe('Spool', () => {
  it('parks written, created and taken files with their exact size, each readable once, and leaves nothing on disk', async () => {
    const prefix = `cairn-spool-test-${process.pid}-`;
    const spool = new Spool(prefix);
    const written = await spool.write(chunks('alpha ', 'beta'));
    const fd = await spool.create();
    writeSync(fd, 'gamma', 0);
    const created = await spool.park(fd);
    const taken = await spool.park(await spool.take((path) => writeFile(path, 'delta!')));
    expect([written.size, created.size, taken.size]).toEqual([10, 5, 6]);
    // Every file is already unlinked: only the (empty) folder exists until it is removed.
    const [folder] = await folders(prefix);
    expect(await readdir(`${tmpdir()}/${folder}`)).toEqual([]);
    await spool.removeDirectory();
    expect(await folders(prefix)).toEqual([]);

    expect(await read(written.open())).toBe('alpha beta');
    expect(await read(created.open())).toBe('gamma');
    expect(() => written.open()).toThrow(/read once/);
    await taken.close();
    await expect(read(taken.open())).rejects.toThrow(); // closed without reading: gone
  });

  it('closes what nobody read and removes a file whose filling failed', async () => {
    const prefix = `cairn-spool-fail-${process.pid}-`;
    const spool = new Spool(prefix);
    const unread = await spool.write(chunks('left over'));
    await expect(spool.take(async (path) => {
      await writeFile(path, 'half');
      throw new Error('copy failed');
    })).rejects.toThrow('copy failed');
    async function* failing() {
      yield Buffer.from('x');
      throw new Error('download failed');
    }
    await expect(spool.write(failing())).rejects.toThrow('download failed');
    await spool.dispose();
    expect(await folders(prefix)).toEqual([]);
    await expect(read(unread.open())).rejects.toThrow();
  });

  it('hands a file\'s descriptor over once, and never closes it afterwards', async () => {
    const spool = new Spool(`cairn-spool-hand-${process.pid}-`);
    const parked = await spool.write(chunks('handed ', 'over'));
    const fd = parked.openFile();
    expect(() => parked.openFile()).toThrow(/read once/);
    expect(() => parked.open()).toThrow(/read once/);
    await spool.dispose(); // closes what it still owns: not this one
    const buffer = Buffer.alloc(parked.size);
    expect(readSync(fd, buffer, 0, buffer.length, 0)).toBe(11);
    expect(buffer.toString()).toBe('handed over');
    closeSync(fd); // the new owner's to close, once
  });
});
