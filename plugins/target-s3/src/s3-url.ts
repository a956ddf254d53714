import { ConfigError, redact } from '@cairn/core';
import type { S3TargetOptions } from './s3-target.js';

type Env = Readonly<Record<string, string | undefined>>;

/** `s3.eu-west-1.amazonaws.com`, `s3-eu-west-1.amazonaws.com`, `s3.dualstack.eu-west-1.amazonaws.com` name their region. */
const AWS_REGIONAL_HOST = /^s3[.-](?:dualstack\.)?([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?$/i;

/**
 * Turns `s3://[KEY:SECRET@]host[:port]/bucket[/prefix][?region=…&path_style=0|1]` (HTTPS) or
 * `s3+http://…` (plain HTTP) into options. Keys left out of the URL come from `AWS_ACCESS_KEY_ID`
 * and `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`); the region from `?region=`, an AWS
 * regional host name, `AWS_REGION` or `AWS_DEFAULT_REGION`, in that order.
 */
export function parseS3Url(url: string, env: Env = {}): S3TargetOptions {
  const fail = (why: string, cause?: unknown): never => {
    throw new ConfigError(`invalid S3 URL ${redact(url)}: ${why}`, { plugin: 's3', cause });
  };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    return fail('expected s3://host[:port]/bucket/prefix or s3+http://host:port/bucket/prefix', error);
  }
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 's3' && scheme !== 's3+http') fail(`unknown scheme "${scheme}": use s3:// (HTTPS) or s3+http:// (plain HTTP)`);
  const useSSL = scheme === 's3';
  const endpoint = parsed.hostname.toLowerCase();
  if (!endpoint) fail('no host: use s3://host/bucket/prefix (for AWS, e.g. s3://s3.eu-west-1.amazonaws.com/bucket)');

  const segments = parsed.pathname.split('/').filter((s) => s !== '').map((s) => decode(s, fail));
  const [bucket, ...rest] = segments;
  if (!bucket) fail('no bucket: use s3://host/bucket/prefix');

  const credentials = urlCredentials(parsed, fail) ?? envCredentials(env, fail);
  const options: S3TargetOptions = { endpoint, useSSL, bucket: bucket!, prefix: rest.join('/'), ...credentials };
  if (parsed.port) options.port = Number(parsed.port);

  for (const name of parsed.searchParams.keys()) {
    if (name !== 'region' && name !== 'path_style') fail(`unknown parameter "${name}": known are region and path_style`);
  }
  const region = parsed.searchParams.get('region') || AWS_REGIONAL_HOST.exec(endpoint)?.[1] || env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (region) options.region = region;
  const pathStyle = parsed.searchParams.get('path_style');
  if (pathStyle !== null) {
    if (!/^(0|1|true|false)$/i.test(pathStyle)) fail('path_style must be 0 or 1');
    options.pathStyle = pathStyle === '1' || pathStyle.toLowerCase() === 'true';
  }
  return options;
}

function urlCredentials(url: URL, fail: (why: string) => never): { accessKey: string; secretKey: string; sessionToken?: string } | undefined {
  if (!url.username && !url.password) return undefined;
  if (!url.username || !url.password) fail('put both keys in the URL (s3://KEY:SECRET@host/…) or neither, and set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  return { accessKey: decode(url.username, fail), secretKey: decode(url.password, fail) };
}

function envCredentials(env: Env, fail: (why: string) => never): { accessKey: string; secretKey: string; sessionToken?: string } {
  const accessKey = env.AWS_ACCESS_KEY_ID;
  const secretKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKey || !secretKey) {
    const missing = [accessKey ? undefined : 'AWS_ACCESS_KEY_ID', secretKey ? undefined : 'AWS_SECRET_ACCESS_KEY'].filter(Boolean).join(' and ');
    return fail(`no credentials: set ${missing} (or put KEY:SECRET@ in the URL)`);
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
