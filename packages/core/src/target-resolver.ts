import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AnyTargetFactory } from './api.js';
import type { TargetInstance } from './contracts.js';
import { CairnError, ConfigError } from './errors.js';
import { redact } from './redact.js';

/**
 * Builds `resolveTarget(urlOrPath)`: `scheme://…` picks the factory serving that scheme; a plain
 * path becomes a `file://` URL for the factory serving `file`. Scheme clashes fail at once.
 */
export function createTargetResolver(factories: readonly AnyTargetFactory[], env: Readonly<Record<string, string | undefined>>): (urlOrPath: string) => TargetInstance {
  const bySchemes = new Map<string, AnyTargetFactory>();
  for (const factory of factories) {
    if (typeof factory !== 'function' || typeof factory.pluginName !== 'string') {
      throw new ConfigError('targets: expected target plugin factories (e.g. localTarget), not instances or calls to them');
    }
    for (const raw of factory.urls?.schemes ?? []) {
      const scheme = raw.toLowerCase();
      const other = bySchemes.get(scheme);
      if (other && other !== factory) {
        throw new ConfigError(`targets: URL scheme "${scheme}" is served by both "${other.pluginName}" and "${factory.pluginName}"; register only one of them`);
      }
      bySchemes.set(scheme, factory);
    }
  }

  return (urlOrPath: string): TargetInstance => {
    if (typeof urlOrPath !== 'string' || urlOrPath.trim() === '') throw new ConfigError('repository: expected a path or URL, got an empty value');
    const match = /^([a-z][a-z0-9+.-]*):\/\//i.exec(urlOrPath);
    const scheme = match ? match[1]!.toLowerCase() : 'file';
    const url = match ? urlOrPath : pathToFileURL(resolve(urlOrPath)).href;
    const factory = bySchemes.get(scheme);
    if (!factory) {
      const registered = [...bySchemes.keys()].sort().join(', ') || 'none';
      if (!match) throw new ConfigError(`no target plugin serves local paths (scheme "file"); register one, e.g. createCairn({ targets: [localTarget] }) (registered: ${registered})`);
      throw new ConfigError(`unknown repository URL scheme "${scheme}": registered: ${registered}`);
    }
    try {
      // The factory validates what parse returned against its own schema.
      return factory(factory.urls!.parse(url, env) as never);
    } catch (error) {
      if (error instanceof CairnError) throw error;
      const why = error instanceof Error ? redact(error.message) : String(error);
      throw new ConfigError(`invalid repository URL ${redact(url)}: ${why}`, { plugin: factory.pluginName, cause: error });
    }
  };
}
