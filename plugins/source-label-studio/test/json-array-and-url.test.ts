import { describe, expect, it } from 'vitest';
import { ConfigError } from '@cairn/core';
import { jsonArrayItems, parseLabelStudioUrl } from '../src/index.js';

async function items(text: string | Buffer, pieceSize = 1): Promise<unknown[]> {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const chunks = async function* () {
    for (let i = 0; i < bytes.length; i += pieceSize) yield bytes.subarray(i, i + pieceSize);
  };
  const out: unknown[] = [];
  for await (const item of jsonArrayItems(chunks(), 'test.json')) out.push(item);
  return out;
}

describe('jsonArrayItems', () => {
  const value = [
    { id: 1, data: { text: 'a [b] {c}, "d" \\ e', n: -1.5e3, list: [1, [2, [3]]], none: null, yes: true } },
    'a string, with "quotes" and ] [',
    42,
    [],
    {},
    { unicode: 'héllo wörld ✓ 日本語 😀', escaped: '\u0000\n\t\\"' },
  ];
  const text = JSON.stringify(value, null, 2);

  it('yields each element, whatever the chunk boundaries (including inside multi-byte characters)', async () => {
    for (const size of [1, 2, 3, 7, 64, text.length]) expect(await items(text, size)).toEqual(value);
    expect(await items(JSON.stringify(value), 5)).toEqual(value);
  });

  it('reads an empty array and surrounding whitespace', async () => {
    expect(await items('  [ ]\n')).toEqual([]);
    expect(await items('\n[\n1\n]\n')).toEqual([1]);
  });

  it('refuses what is not one JSON array', async () => {
    await expect(items('')).rejects.toThrow(/test.json is not a JSON array: it is empty/);
    await expect(items('{"a":1}')).rejects.toThrow(/does not start with "\["/);
    await expect(items('[1,2')).rejects.toThrow(/ends early/);
    await expect(items('[1,]')).rejects.toThrow(/a "," before the closing/);
    await expect(items('[,1]')).rejects.toThrow(/an empty element/);
    await expect(items('[1 2]')).rejects.toThrow(/does not parse/);
    await expect(items('[1] x')).rejects.toThrow(/text after the closing/);
  });
});

describe('parseLabelStudioUrl', () => {
  const env = { LABEL_STUDIO_API_KEY: 'secret-token' };

  it('reads the server, the projects and the parameters', () => {
    expect(parseLabelStudioUrl('label-studio+http://127.0.0.1:8080/projects/5', env))
      .toEqual({ mode: 'api', url: 'http://127.0.0.1:8080', projects: [5], token: 'secret-token' });
    expect(parseLabelStudioUrl('label-studio+https://ls.example.com/base/projects/1,2,3/', env))
      .toMatchObject({ url: 'https://ls.example.com/base', projects: [1, 2, 3] });
    expect(parseLabelStudioUrl('label-studio+http://host:8080', env)).toMatchObject({ url: 'http://host:8080', projects: [] });
    expect(parseLabelStudioUrl('label-studio+http://host:8080/?name=ann&snapshots=false', env)).toMatchObject({ name: 'ann', includeSnapshots: false });
  });

  it('refuses bad URLs with a ConfigError that never shows a token', () => {
    const bad: Array<[string, RegExp]> = [
      ['label-studio+http://host/projects/abc', /"abc" is not a project id/],
      ['label-studio+http://host/projects/', /no project id after \/projects\//],
      ['label-studio+http://host/projects/5/tasks', /nothing after it/],
      ['label-studio+http://user:pw@host/projects/5', /do not put credentials in the URL/],
      ['label-studio+http://host/?colour=red', /unknown parameter "colour"/],
      ['label-studio+ftp://host', /unknown scheme/],
    ];
    for (const [url, why] of bad) {
      expect(() => parseLabelStudioUrl(url, env), url).toThrow(ConfigError);
      expect(() => parseLabelStudioUrl(url, env), url).toThrow(why);
    }
    expect(() => parseLabelStudioUrl('label-studio+http://host/projects/5', {})).toThrow(/no API token: set LABEL_STUDIO_API_KEY/);
    try {
      parseLabelStudioUrl('label-studio+http://user:pw@host/projects/5', env);
    } catch (error) {
      expect((error as Error).message).not.toContain('pw@');
    }
  });
});
