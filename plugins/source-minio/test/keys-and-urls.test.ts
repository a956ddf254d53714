import { describe, expect, it } from 'vitest';
import { ConfigError } from '@cairn/core';
import { KeyTree } from '../src/key-tree.js';
import { parsePage } from '../src/listing.js';
import { describeListed, parseTagging, storeHeaders } from '../src/object-metadata.js';
import { minioSource, parseMinioUrl } from '../src/index.js';

/** Lays keys (already in listing order) out as the source would: `dir path` / `file path` / `marker path`. */
function layout(keys: Array<string | [string, number]>): string[] {
  const tree = new KeyTree();
  const out: string[] = [];
  for (const item of keys) {
    const [key, size] = typeof item === 'string' ? [item, 1] : item;
    const placed = tree.place(key, size);
    if (!placed) {
      out.push(`skip ${key}`);
      continue;
    }
    for (const dir of placed.dirs) out.push(`dir ${dir}`);
    out.push(`${placed.folder ? 'marker' : 'file'} ${placed.path}`);
  }
  return out;
}

/** The conformance suite's depth-first rule: a directory before its contents, its contents together. */
function isDepthFirst(lines: string[]): boolean {
  const closed = new Set<string>();
  const open: string[] = [];
  for (const line of lines) {
    const path = line.slice(line.indexOf(' ') + 1);
    const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
    while (open.length > 0 && parent !== open.at(-1) && !parent.startsWith(`${open.at(-1)}/`)) closed.add(open.pop()!);
    if (parent !== '' && open.at(-1) !== parent) return false;
    if (closed.has(path)) return false;
    if (line.startsWith('dir ') || line.startsWith('marker ')) open.push(path);
  }
  return true;
}

describe('object keys as entry paths', () => {
  it('keeps byte-ordered keys depth-first without buffering: a-b before a/b is fine', () => {
    const lines = layout(['a', 'a-b', 'a.txt', 'a/b', 'a/c/d', 'a/c/e', 'a0', 'b/x']);
    expect(lines).toEqual(['file a', 'file a-b', 'file a.txt', 'dir a~2', 'file a~2/b', 'dir a~2/c', 'file a~2/c/d', 'file a~2/c/e', 'file a0', 'dir b', 'file b/x']);
    expect(isDepthFirst(lines)).toBe(true);
  });

  it('maps empty, "." and ".." segments and a leading "/" to names that cannot escape', () => {
    const lines = layout(['/lead', 'a//b', 'a/./c', 'a/../d', 'x/..', 'y/.']);
    expect(lines).toEqual([
      'dir (empty)', 'file (empty)/lead',
      'dir a', 'dir a/(empty)', 'file a/(empty)/b', 'dir a/(dot)', 'file a/(dot)/c', 'dir a/(dotdot)', 'file a/(dotdot)/d',
      'dir x', 'file x/(dotdot)', 'dir y', 'file y/(dot)',
    ]);
    expect(isDepthFirst(lines)).toBe(true);
  });

  it('turns empty folder markers into directories, and a marker with content into a file named (empty)', () => {
    expect(layout([['', 0], ['docs/', 0], 'docs/a', ['docs/sub/', 0], ['e/', 0], ['full/', 5]])).toEqual([
      'skip ', 'marker docs', 'file docs/a', 'marker docs/sub', 'marker e', 'dir full', 'file full/(empty)',
    ]);
    // A marker listed after its directory was opened (out of order) stays a file rather than breaking the tree.
    expect(layout(['m/a', ['m/', 0]])).toEqual(['dir m', 'file m/a', 'file m/(folder)']);
  });

  it('never yields a path twice, whatever the keys map to, and survives a server listing out of order', () => {
    const lines = layout(['(dot)', 'x/.', 'x/(dot)', 'b/1', 'a', 'b/2', 'NUL\0name']);
    expect(lines).toEqual(['file (dot)', 'dir x', 'file x/(dot)', 'file x/(dot)~2', 'dir b', 'file b/1', 'file a', 'dir b~2', 'file b~2/2', 'file NUL%00name']);
    const paths = lines.map((l) => l.slice(l.indexOf(' ') + 1));
    expect(new Set(paths).size).toBe(paths.length);
    expect(isDepthFirst(lines)).toBe(true);
  });
});

describe('listing and metadata answers', () => {
  it('reads keys that look like numbers as text, URL-decoded, with metadata and tags', () => {
    const xml = '<?xml version="1.0"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>true</IsTruncated>'
      + '<Contents><Key>007</Key><LastModified>2026-01-02T03:04:05.678Z</LastModified><ETag>&#34;abc&#34;</ETag><Size>12</Size>'
      + '<UserMetadata><content-type>text/plain</content-type><X-Amz-Meta-N>007</X-Amz-Meta-N><cache-control>no-cache</cache-control><X-Amz-Meta-Amp>a&amp;b</X-Amz-Meta-Amp></UserMetadata>'
      + '<UserTags>k=v+1&amp;n=007</UserTags></Contents>'
      + '<Contents><Key>a%20b/%C3%B1+c</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified><ETag>"d-2"</ETag><Size>0</Size></Contents>'
      + '<NextContinuationToken>tok&amp;en</NextContinuationToken></ListBucketResult>';
    const page = parsePage(xml);
    expect(page.next).toBe('tok&en');
    expect(page.items).toEqual([
      {
        name: '007', size: 12, etag: 'abc', lastModified: Date.parse('2026-01-02T03:04:05.678Z'),
        described: { contentType: 'text/plain', headers: { 'cache-control': 'no-cache' }, userMetadata: { amp: 'a&b', n: '007' }, tags: { k: 'v 1', n: '007' } },
      },
      { name: 'a b/ñ c', size: 0, etag: 'd-2', lastModified: Date.parse('2026-01-02T03:04:05.000Z') },
    ]);
    expect(() => parsePage('<Error><Code>x</Code></Error>')).toThrow(/unexpected listing answer/);
  });

  it('reads tag sets as text and writes metadata back as headers, non-ASCII values as encoded words', () => {
    expect(parseTagging('<Tagging><TagSet><Tag><Key>n</Key><Value>007</Value></Tag><Tag><Key>e</Key><Value></Value></Tag></TagSet></Tagging>')).toEqual({ n: '007', e: '' });
    expect(describeListed('', undefined)).toEqual({});
    expect(storeHeaders({ contentType: 'text/plain', headers: { 'cache-control': 'no-cache', 'x-other': 'dropped' }, userMetadata: { who: 'Ann Ö' }, tags: { 'a b': 'c&d', e: '' } })).toEqual({
      'content-type': 'text/plain', 'cache-control': 'no-cache', 'x-amz-meta-who': `=?UTF-8?B?${Buffer.from('Ann Ö').toString('base64')}?=`, 'x-amz-tagging': 'a%20b=c%26d&e=',
    });
  });
});

describe('minio URLs', () => {
  const env = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

  it('reads minio+http:// and minio+https://, bucket, prefix, port, region and name, keys from the environment', () => {
    expect(parseMinioUrl('minio+http://127.0.0.1:9000/photos', env)).toEqual({
      endpoint: '127.0.0.1', port: 9000, useSSL: false, bucket: 'photos', prefix: '', accessKey: 'AKIDEXAMPLE', secretKey: env.AWS_SECRET_ACCESS_KEY,
    });
    expect(parseMinioUrl('minio+https://Minio.LAN/photos/2024/ma%C3%AFs/?region=eu-west-1&name=pics', { ...env, AWS_SESSION_TOKEN: 'tok', AWS_REGION: 'us-west-2' })).toEqual({
      endpoint: 'minio.lan', useSSL: true, bucket: 'photos', prefix: '2024/maïs', accessKey: 'AKIDEXAMPLE', secretKey: env.AWS_SECRET_ACCESS_KEY,
      sessionToken: 'tok', region: 'eu-west-1', name: 'pics',
    });
    expect(parseMinioUrl('minio+http://h:9000/b', { ...env, AWS_REGION: 'us-west-2' }).region).toBe('us-west-2');
    const source = minioSource(parseMinioUrl('minio+http://KEY:s3cr%2Fet@h:9000/bucket/p', {}));
    expect(source.description).toBe('minio+http://h:9000/bucket/p');
    expect(source.name).toBe('minio-bucket');
    expect(JSON.stringify(source)).not.toContain('s3cr');
    expect(minioSource(parseMinioUrl('minio+https://h/bucket', env)).description).toBe('minio+https://h/bucket');
  });

  it('refuses what it cannot use, naming the fix and no secret', () => {
    const problems: Array<[string, Record<string, string>, RegExp]> = [
      ['minio+http://host:9000', env, /no bucket/],
      ['minio+http://host:9000/b', {}, /no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/],
      ['minio+http://host:9000/b', { AWS_ACCESS_KEY_ID: 'x' }, /set AWS_SECRET_ACCESS_KEY$/],
      ['minio+http://KEY:topsecret@host/b?part=1', {}, /unknown parameter "part": known are region and name/],
      ['minio+http://KEY@host/b', {}, /both keys/],
      ['s3://host/b', env, /unknown scheme "s3"/],
    ];
    for (const [url, given, pattern] of problems) {
      const error = (() => {
        try {
          parseMinioUrl(url, given);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error, url).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(pattern);
      expect((error as Error).message).not.toContain('topsecret');
    }
  });
});
