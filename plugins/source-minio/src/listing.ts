import type { Connection } from './connection.js';
import { encodeQueryValue, readText, unescapeXml } from './connection.js';
import type { Described } from './object-metadata.js';
import { describeListed } from './object-metadata.js';

export interface ListedObject {
  /** The full object name in the bucket. */
  name: string;
  size: number;
  /** Quotes removed. */
  etag: string;
  /** LastModified, in milliseconds since the epoch. */
  lastModified: number;
  /** Content type, user metadata and tags, when the server sent them with the listing (MinIO's `metadata=true`). */
  described?: Described;
}

export interface ListOptions {
  signal?: AbortSignal | undefined;
  /** Ask for MinIO's listing extension that carries each object's metadata and tags. */
  withMetadata: boolean;
  /** At most this many names (one page). */
  maxKeys?: number;
}

/**
 * Lists the objects whose names start with `prefix`, in the server's (UTF-8 byte) order, a page of
 * up to 1000 per request, each page retried on its own. The next page is asked for while the
 * caller works through the current one. The answer is read here rather than by the minio client,
 * whose XML parser turns names and values that look like numbers (`007`) into numbers.
 */
export async function* listPages(conn: Connection, prefix: string, options: ListOptions): AsyncGenerator<ListedObject[]> {
  const what = `listing ${prefix ? `"${prefix}"` : 'the bucket'}`;
  let withMetadata = options.withMetadata;
  const fetchPage = (token: string) => conn.call(what, async () => {
    const query = [
      'list-type=2', 'encoding-type=url', `max-keys=${options.maxKeys ?? 1000}`, `prefix=${encodeQueryValue(prefix)}`,
      ...(withMetadata ? ['metadata=true'] : []),
      ...(token ? [`continuation-token=${encodeQueryValue(token)}`] : []),
    ].sort().join('&');
    return parsePage(await readText(await conn.client.makeRequestAsync({ method: 'GET', bucketName: conn.settings.bucket, query })));
  }, { signal: options.signal });

  let page: Page;
  try {
    page = await fetchPage('');
  } catch (error) {
    // A server that refuses the unknown parameter (rather than ignoring it) is listed plainly.
    if (!withMetadata || !refusedParameter(error)) throw error;
    withMetadata = false;
    page = await fetchPage('');
  }
  for (;;) {
    let pending: Promise<Page> | undefined;
    if (page.next && options.maxKeys === undefined) {
      pending = fetchPage(page.next);
      pending.catch(() => undefined); // observed below; this keeps an early exit from leaving it unhandled
    }
    yield page.items;
    if (!pending) return;
    page = await pending;
  }
}

interface Page {
  items: ListedObject[];
  /** The continuation token, or '' after the last page. */
  next: string;
}

/** Reads a ListObjectsV2 answer (`encoding-type=url`: names are URL-encoded, spaces as `+`). */
export function parsePage(xml: string): Page {
  if (!/<ListBucketResult[\s>]/.test(xml)) throw new Error(`unexpected listing answer: ${xml.slice(0, 200)}`);
  const items: ListedObject[] = [];
  for (const [, contents] of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const field = (tag: string) => new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(contents!)?.[1];
    const name = field('Key');
    const size = field('Size');
    if (name === undefined || size === undefined || !/^\d+$/.test(size)) continue;
    const item: ListedObject = {
      name: decodeURIComponent(unescapeXml(name).replace(/\+/g, ' ')),
      size: Number(size),
      etag: unescapeXml(field('ETag') ?? '').replace(/^"|"$/g, ''),
      lastModified: Date.parse(field('LastModified') ?? '') || 0,
    };
    const userMetadata = /<UserMetadata>([\s\S]*?)<\/UserMetadata>|<UserMetadata\/>/.exec(contents!);
    if (userMetadata) item.described = describeListed(userMetadata[1] ?? '', field('UserTags'));
    items.push(item);
  }
  const truncated = /<IsTruncated>true<\/IsTruncated>/.test(xml);
  const next = truncated ? unescapeXml(/<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1] ?? '') : '';
  return { items, next };
}

function refusedParameter(error: unknown): boolean {
  const code = ((error as { cause?: { code?: unknown } }).cause ?? {}).code;
  return code === 'InvalidArgument' || code === 'NotImplemented' || code === 'InvalidRequest';
}
