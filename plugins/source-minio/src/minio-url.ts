import { ConfigError, redact } from '@cairn/core';
import type { MinioSourceOptions } from './minio-source.js';

type Env = Readonly<Record<string, string | undefined>>;

const PARAMETERS = ['region', 'name'];

/**
 * Turns `minio+http://host:port/bucket[/prefix][?region=…&name=…]` (plain HTTP) or
 * `minio+https://…` into options. The keys come from `AWS_ACCESS_KEY_ID` and
 * `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN` for temporary credentials), or from
 * `KEY:SECRET@` in the URL; the region from `?region=`, `AWS_REGION` or `AWS_DEFAULT_REGION`.
 */
export function parseMinioUrl(url: string, env: Env = {}): MinioSourceOptions {
  const fail = (why: string, cause?: unknown): never => {
    throw new ConfigError(`invalid MinIO URL ${redact(url)}: ${why}`, { plugin: 'minio', cause });
  };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    return fail('expected minio+http://host:port/bucket/prefix or minio+https://host/bucket/prefix', error);
  }
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'minio+http' && scheme !== 'minio+https') fail(`unknown scheme "${scheme}": use minio+https:// (HTTPS) or minio+http:// (plain HTTP)`);
  const endpoint = parsed.hostname.toLowerCase();
  if (!endpoint) fail('no host: use minio+http://host:port/bucket');

  const segments = parsed.pathname.split('/').filter((s) => s !== '').map((s) => decode(s, fail));
  const [bucket, ...rest] = segments;
  if (!bucket) fail('no bucket: use minio+http://host:port/bucket or …/bucket/prefix');

  for (const name of parsed.searchParams.keys()) {
    if (!PARAMETERS.includes(name)) fail(`unknown parameter "${name}": known are ${PARAMETERS.join(' and ')}`);
  }
  const options: MinioSourceOptions = {
    endpoint,
    useSSL: scheme === 'minio+https',
    bucket: bucket!,
    prefix: rest.join('/'),
    ...(urlCredentials(parsed, fail) ?? envCredentials(env, fail)),
  };
  if (parsed.port) options.port = Number(parsed.port);
  const region = parsed.searchParams.get('region') || env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (region) options.region = region;
  const name = parsed.searchParams.get('name');
  if (name !== null) options.name = name;
  return options;
}

type Credentials = { accessKey: string; secretKey: string; sessionToken?: string };

function urlCredentials(url: URL, fail: (why: string) => never): Credentials | undefined {
  if (!url.username && !url.password) return undefined;
  if (!url.username || !url.password) fail('put both keys in the URL (KEY:SECRET@host) or neither, and set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  return { accessKey: decode(url.username, fail), secretKey: decode(url.password, fail) };
}

function envCredentials(env: Env, fail: (why: string) => never): Credentials {
  const accessKey = env.AWS_ACCESS_KEY_ID;
  const secretKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKey || !secretKey) {
    const missing = [accessKey ? undefined : 'AWS_ACCESS_KEY_ID', secretKey ? undefined : 'AWS_SECRET_ACCESS_KEY'].filter(Boolean).join(' and ');
    return fail(`no credentials: set ${missing}`);
  }
  return { accessKey, secretKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
}

function decode(text: string, fail: (why: string, cause?: unknown) => never): string {
  try {
    return decodeURIComponent(text);
  } catch (error) {
    return fail('a part of it is not valid percent-encoding', error);
  }
}
