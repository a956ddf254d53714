import { ConfigError, redact } from '@cairn/core';
import type { LabelStudioSourceOptions } from './options.js';

type Env = Readonly<Record<string, string | undefined>>;

const PARAMETERS = ['name', 'snapshots'];

/**
 * Turns `label-studio+http://host:port[/base][/projects/ID[,ID…]][?name=…&snapshots=false]` (or
 * `label-studio+https://…`) into options. The token comes from `LABEL_STUDIO_API_KEY`, never from
 * the URL, where it would end up in shell histories and process lists.
 */
export function parseLabelStudioUrl(url: string, env: Env = {}): LabelStudioSourceOptions {
  const fail = (why: string, cause?: unknown): never => {
    throw new ConfigError(`invalid Label Studio URL ${redact(url)}: ${why}`, { plugin: 'label-studio', cause });
  };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    return fail('expected label-studio+http://host:port/projects/ID (or without /projects/ID for every project)', error);
  }
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'label-studio+http' && scheme !== 'label-studio+https') fail(`unknown scheme "${scheme}": use label-studio+https:// (HTTPS) or label-studio+http:// (plain HTTP)`);
  if (!parsed.hostname) fail('no host: use label-studio+http://host:port');
  if (parsed.username || parsed.password) fail('do not put credentials in the URL: set LABEL_STUDIO_API_KEY to the API token');
  if (parsed.hash) fail('a "#" does not belong in it');
  for (const name of parsed.searchParams.keys()) {
    if (!PARAMETERS.includes(name)) fail(`unknown parameter "${name}": known are ${PARAMETERS.join(' and ')}`);
  }

  const match = /^(.*?)(?:\/projects(?:\/([^/]*))?)?\/*$/.exec(parsed.pathname)!;
  const base = match[1] ?? '';
  if (/\/projects(\/|$)/.test(base)) fail('expected …/projects/ID at the end of the path, nothing after it');
  const projects: number[] = [];
  if (match[2] !== undefined && match[2] !== '') {
    for (const part of decodeURIComponent(match[2]).split(',')) {
      if (!/^\d+$/.test(part.trim()) || Number(part) < 1) fail(`"${match[2]}" is not a project id or a list of them (1,2,3): use /projects/ID`);
      projects.push(Number(part));
    }
    if (projects.length === 0) fail('no project id after /projects/: use /projects/ID, or leave /projects out for every project');
  } else if (/\/projects\/?$/.test(parsed.pathname)) {
    fail('no project id after /projects/: use /projects/ID, or leave /projects out for every project');
  }

  const token = env.LABEL_STUDIO_API_KEY;
  if (!token) fail('no API token: set LABEL_STUDIO_API_KEY (Account & Settings → Access Token in Label Studio)');
  const options: LabelStudioSourceOptions = {
    mode: 'api',
    url: `${scheme === 'label-studio+https' ? 'https' : 'http'}://${parsed.host}${base}`,
    projects: [...new Set(projects)],
    token: token!,
  };
  const name = parsed.searchParams.get('name');
  if (name !== null) options.name = name;
  const snapshots = parsed.searchParams.get('snapshots');
  if (snapshots !== null) {
    if (snapshots !== 'true' && snapshots !== 'false') fail('snapshots must be true or false');
    options.includeSnapshots = snapshots === 'true';
  }
  return options;
}
