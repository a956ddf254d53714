import type { BlobInfo } from '@cairn/core';
import { isValidKey } from './keys.js';
import type { S3Context } from './s3-context.js';
import { encodeQueryValue, readText } from './s3-context.js';

/**
 * Lists the keys under `prefix`, a page (1000 keys) per request, each page retried on its own.
 * The answer is read here rather than by the minio client, whose XML parser turns names that look
 * like numbers (`0x1f`, `007`) into numbers. Names that are not valid keys (folder markers such as
 * `dir/` made by web consoles) are skipped.
 */
export async function* list(s3: S3Context, prefix: string, signal: AbortSignal | undefined): AsyncGenerator<BlobInfo> {
  const what = `listing ${prefix ? `"${prefix}"` : 'the repository'}`;
  let token = '';
  do {
    const query = [
      'list-type=2', 'encoding-type=url', 'max-keys=1000', `prefix=${encodeQueryValue(s3.base + prefix)}`,
      ...(token ? [`continuation-token=${encodeQueryValue(token)}`] : []),
    ].sort().join('&');
    const page = await s3.call(what, async () => parsePage(await readText(await s3.client.makeRequestAsync({ method: 'GET', bucketName: s3.settings.bucket, query }))), { signal });
    for (const item of page.items) {
      if (!item.name.startsWith(s3.base)) continue;
      const key = item.name.slice(s3.base.length);
      if (isValidKey(key)) yield { key, size: item.size };
    }
    token = page.next;
  } while (token);
}

interface Page {
  items: Array<{ name: string; size: number }>;
  /** The continuation token, or '' after the last page. */
  next: string;
}

/** Reads a ListObjectsV2 answer (`encoding-type=url`: names are URL-encoded, spaces as `+`). */
function parsePage(xml: string): Page {
  if (!/<ListBucketResult[\s>]/.test(xml)) throw new Error(`unexpected listing answer: ${xml.slice(0, 200)}`);
  const items: Page['items'] = [];
  for (const [, contents] of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const name = /<Key>([^<]*)<\/Key>/.exec(contents!)?.[1];
    const size = /<Size>(\d+)<\/Size>/.exec(contents!)?.[1];
    if (name === undefined || size === undefined) continue;
    items.push({ name: decodeURIComponent(unescapeXml(name).replace(/\+/g, ' ')), size: Number(size) });
  }
  const truncated = /<IsTruncated>true<\/IsTruncated>/.test(xml);
  const next = truncated ? unescapeXml(/<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1] ?? '') : '';
  return { items, next };
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-f]+);/gi, (entity, name: string) => {
    switch (name.toLowerCase()) {
      case 'lt': return '<';
      case 'gt': return '>';
      case 'quot': return '"';
      case 'apos': return "'";
      case 'amp': return '&';
      default: return String.fromCodePoint(name[1]!.toLowerCase() === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10));
    }
  });
}
