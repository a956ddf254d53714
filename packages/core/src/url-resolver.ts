import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PluginUrls } from './contracts.js';
import { CairnError, ConfigError } from './errors.js';
import { redact } from './redact.js';

/** A plugin factory that may serve URL schemes: targets and sources alike. */
export interface UrlServingFactory<Instance> {
  (options: never): Instance;
  readonly pluginName: string;
  readonly urls?: PluginUrls<unknown>;
}

/**
 * Builds `resolve(urlOrPath)` for one kind of plugin: `scheme://…` picks the factory serving that
 * scheme; a plain path becomes a `file://` URL for the factory serving `file`. Scheme clashes fail
 * at once. `kind` names the plugin kind and what a value is for in messages ("target", "repository").
 */
export function createUrlResolver<Instance>(
  factories: ReadonlyArray<UrlServingFactory<Instance>>,
  env: Readonly<Record<string, string | undefined>>,
  kind: { plugin: 'target' | 'source'; option: string; example: string; value: string },
): (urlOrPath: string) => Instance {
  const bySchemes = new Map<string, UrlServingFactory<Instance>>();
  for (const factory of factories) {
    if (typeof factory !== 'function' || typeof factory.pluginName !== 'string') {
      throw new ConfigError(`${kind.option}: expected ${kind.plugin} plugin factories (e.g. ${kind.example}), not instances or calls to them`);
    }
    for (const raw of factory.urls?.schemes ?? []) {
      const scheme = raw.toLowerCase();
      const other = bySchemes.get(scheme);
      if (other && other !== factory) {
        throw new ConfigError(`${kind.option}: URL scheme "${scheme}" is served by both "${other.pluginName}" and "${factory.pluginName}"; register only one of them`);
      }
      bySchemes.set(scheme, factory);
    }
  }

  return (urlOrPath: string): Instance => {
    if (typeof urlOrPath !== 'string' || urlOrPath.trim() === '') throw new ConfigError(`${kind.value}: expected a path or URL, got an empty value`);
    const match = /^([a-z][a-z0-9+.-]*):\/\//i.exec(urlOrPath);
    const scheme = match ? match[1]!.toLowerCase() : 'file';
    const url = match ? urlOrPath : pathToFileURL(resolve(urlOrPath)).href;
    const factory = bySchemes.get(scheme);
    if (!factory) {
      const registered = [...bySchemes.keys()].sort().join(', ') || 'none';
      if (!match) throw new ConfigError(`no ${kind.plugin} plugin serves local paths (scheme "file"); register one, e.g. createCairn({ ${kind.option}: [${kind.example}] }) (registered: ${registered})`);
      throw new ConfigError(`unknown ${kind.value} URL scheme "${scheme}": registered: ${registered}`);
    }
    try {
      // The factory validates what parse returned against its own schema.
      return factory(factory.urls!.parse(url, env) as never);
    } catch (error) {
      if (error instanceof CairnError) throw error;
      const why = error instanceof Error ? redact(error.message) : String(error);
      throw new ConfigError(`invalid ${kind.value} URL ${redact(url)}: ${why}`, { plugin: factory.pluginName, cause: error });
    }
  };
}
