import { ConfigError, defineSource } from '@cairn/core';
import type { SourceBackupContext, SourceEntry } from '@cairn/core';
import { filesSource } from '@cairn/source-files';
import { backupEntries } from './backup.js';
import { labelStudioLocation, labelStudioSourceOptions, type ApiSettings, type LabelStudioSettings } from './options.js';
import { restoreEntries } from './restore.js';
import { parseLabelStudioUrl } from './url.js';

/**
 * Backs up Label Studio projects through the REST API (labeling config, settings, tasks with
 * annotations and predictions, export snapshots) and restores them into a live server; or, in
 * mode `export-dir`, the folder Label Studio exports to.
 */
export const labelStudioSource = defineSource({
  name: 'label-studio',
  options: labelStudioSourceOptions,
  capabilities: { incremental: true, restoreModes: ['directory', 'origin'] },
  urls: { schemes: ['label-studio+http', 'label-studio+https'], parse: parseLabelStudioUrl },
  create(options) {
    const name = options.name ?? (options.mode === 'api' && options.projects.length === 1 ? `label-studio-${options.projects[0]}` : 'label-studio');
    if (options.mode === 'export-dir') {
      // The files source walks the folder; its entries are this source's, under this source's name.
      const files = filesSource({ path: options.exportDir!, name });
      return {
        name,
        description: `${files.description} (Label Studio exports)`,
        entries: (ctx: SourceBackupContext): AsyncIterable<SourceEntry> => files.entries(ctx),
        async restore(_entries, ctx) {
          throw new ConfigError(`restore mode "${ctx.mode}": a snapshot of an export folder restores into a directory (--target DIR), not into a server`, { plugin: 'label-studio' });
        },
      };
    }
    const settings = options as ApiSettings;
    return {
      name,
      description: labelStudioLocation(settings),
      entries: (ctx) => backupEntries(settings, ctx),
      restore: (entries, ctx) => restoreEntries(settings, entries, ctx),
    };
  },
});

export type { LabelStudioSettings };
