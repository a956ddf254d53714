import type { IncomingHttpHeaders } from 'node:http';
import { unescapeXml } from './connection.js';

/**
 * What a snapshot keeps of an object besides its bytes, and gives back on restore. Stored as the
 * entry's metadata, so it must stay plain JSON.
 */
export interface ObjectMetadata {
  /** The object's key relative to the source prefix, exactly: restore writes it back under this key. */
  key: string;
  /** Quotes removed. */
  etag: string;
  contentType?: string;
  /** Standard headers stored with the object: cache-control, content-disposition, content-encoding, … */
  headers?: Record<string, string>;
  /** `x-amz-meta-*` values, by lower-case name without the prefix. */
  userMetadata?: Record<string, string>;
  tags?: Record<string, string>;
}

/** The headers besides Content-Type that S3 stores with an object and returns on GET and HEAD. */
const STORED_HEADERS = new Set(['cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires', 'x-amz-website-redirect-location']);
const META_PREFIX = 'x-amz-meta-';

/** The parts of ObjectMetadata that describe the object rather than name it. */
export type Described = Pick<ObjectMetadata, 'contentType' | 'headers' | 'userMetadata' | 'tags'>;

/** Sorts a header-like list of (name, value) into content type, stored headers and user metadata. */
export function describe(pairs: Iterable<[string, string]>, tags: Record<string, string>): Described {
  const out: Described = {};
  const headers: Record<string, string> = {};
  const user: Record<string, string> = {};
  for (const [rawName, value] of pairs) {
    const name = rawName.toLowerCase();
    if (name === 'content-type') out.contentType = value;
    else if (name.startsWith(META_PREFIX) && name.length > META_PREFIX.length) user[name.slice(META_PREFIX.length)] = value;
    else if (STORED_HEADERS.has(name)) headers[name] = value;
  }
  if (Object.keys(headers).length > 0) out.headers = sortKeys(headers);
  if (Object.keys(user).length > 0) out.userMetadata = sortKeys(user);
  if (Object.keys(tags).length > 0) out.tags = sortKeys(tags);
  return out;
}

/** From the `<UserMetadata>` and `<UserTags>` of a MinIO listing with `metadata=true`. */
export function describeListed(userMetadataXml: string, userTags: string | undefined): Described {
  const pairs: Array<[string, string]> = [];
  for (const [, name, value] of userMetadataXml.matchAll(/<([A-Za-z0-9._:-]+)>([^<]*)<\/\1>/g)) pairs.push([name!, unescapeXml(value!)]);
  return describe(pairs, userTags ? parseTagQuery(userTags) : {});
}

/** From the headers of a HEAD answer and the tag set of a GetObjectTagging answer. */
export function describeHead(headers: IncomingHttpHeaders, tags: Record<string, string>): Described {
  const pairs: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(headers)) if (typeof value === 'string') pairs.push([name, value]);
  return describe(pairs, tags);
}

/** `k=v&k2=v2`, URL-encoded (spaces may be `+`), as MinIO lists tags and `x-amz-tagging` sends them. */
export function parseTagQuery(text: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(unescapeXml(text)));
}

/** A GetObjectTagging answer, read here because the minio client's XML parser turns `007` into 7. */
export function parseTagging(xml: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [, body] of xml.matchAll(/<Tag>([\s\S]*?)<\/Tag>/g)) {
    const key = /<Key>([^<]*)<\/Key>/.exec(body!)?.[1];
    const value = /<Value>([^<]*)<\/Value>/.exec(body!)?.[1] ?? '';
    if (key !== undefined) tags[unescapeXml(key)] = unescapeXml(value);
  }
  return tags;
}

/**
 * The request headers that store `metadata` with an object (PUT or multipart initiation): its
 * content type, stored headers, user metadata and tags in one request. Header values must be
 * ASCII; others are sent as RFC 2047 encoded words, the form S3 itself returns them in.
 */
export function storeHeaders(metadata: Partial<ObjectMetadata>): Record<string, string> {
  const headers: Record<string, string> = {};
  if (metadata.contentType) headers['content-type'] = ascii(metadata.contentType);
  for (const [name, value] of Object.entries(metadata.headers ?? {})) if (STORED_HEADERS.has(name)) headers[name] = ascii(value);
  for (const [name, value] of Object.entries(metadata.userMetadata ?? {})) headers[`${META_PREFIX}${name}`] = ascii(value);
  const tags = Object.entries(metadata.tags ?? {});
  if (tags.length > 0) headers['x-amz-tagging'] = tags.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return headers;
}

/** Reads an entry's metadata back, tolerating what an older or foreign snapshot may lack. */
export function readMetadata(metadata: Record<string, unknown> | undefined): Partial<ObjectMetadata> {
  if (!metadata) return {};
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const record = (value: unknown) => (value && typeof value === 'object' && !Array.isArray(value)
    ? Object.fromEntries(Object.entries(value).filter((pair): pair is [string, string] => typeof pair[1] === 'string'))
    : undefined);
  const out: Partial<ObjectMetadata> = {};
  const key = text(metadata.key);
  if (key !== undefined) out.key = key;
  const contentType = text(metadata.contentType);
  if (contentType !== undefined) out.contentType = contentType;
  const headers = record(metadata.headers);
  if (headers) out.headers = headers;
  const userMetadata = record(metadata.userMetadata);
  if (userMetadata) out.userMetadata = userMetadata;
  const tags = record(metadata.tags);
  if (tags) out.tags = tags;
  return out;
}

function ascii(value: string): string {
  return /^[\x20-\x7e\t]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

function sortKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
