import { z } from 'zod';

export const labelStudioSourceOptions = z.object({
  mode: z.enum(['api', 'export-dir']).default('api')
    .describe('`api`: back up projects through the REST API (config, settings, tasks, annotations, predictions, export snapshots) and restore them into a server. `export-dir`: back up a folder Label Studio exports to, as files.'),
  url: z.string().regex(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, 'expected http://host:port or https://host, with an optional base path')
    .transform((u) => u.replace(/\/+$/, '')).optional()
    .describe('Base address of the Label Studio server, as a browser opens it: `http://127.0.0.1:8080`, `https://label.example.com/ls` (mode `api`).'),
  projects: z.array(z.number().int().positive()).default([])
    .describe('Ids of the projects to back up (the number in /projects/ID/); empty: every project the token\'s user can see. For a restore: one id fills that existing project; empty creates a new project per backed-up one.'),
  token: z.string().min(1).optional()
    .describe('API token (`LABEL_STUDIO_API_KEY`): a legacy token (sent as `Token …`) or a personal access token (a JWT, exchanged for short-lived access tokens). Never logged or shown.'),
  exportDir: z.string().min(1).optional()
    .describe('Folder Label Studio exports to (mode `export-dir`), backed up like the files source does.'),
  includeSnapshots: z.boolean().default(true)
    .describe('Also back up each project\'s completed export snapshots (Export → Create snapshot), under `exports/`.'),
  name: z.string().min(1).regex(/^[^/\0]+$/, 'a single name without "/"').refine((n) => n !== '.' && n !== '..', 'not "." or ".."').optional()
    .describe('Top-level directory of this source in a snapshot; default `label-studio-<id>` for one project, else `label-studio`.'),
  timeoutMs: z.number().int().min(100).default(120_000)
    .describe('How long (ms) a request may wait for an answer, or for the next piece of one. Building an export is done before the server answers, so allow for the largest project.'),
  retries: z.number().int().min(0).max(20).default(3)
    .describe('Retries, with exponential backoff and jitter, of a read that failed on a dropped connection, a timeout or HTTP 502/503/504. Imports are sent again only when the connection was refused.'),
  verify: z.boolean().default(true)
    .describe('After a restore, export the project again and compare task count, task data, annotation results and prediction count with the snapshot.'),
}).superRefine((options, ctx) => {
  if (options.mode === 'api') {
    if (!options.url) ctx.addIssue({ code: 'custom', path: ['url'], message: 'mode api needs the server\'s url (http://host:port)' });
    if (!options.token) ctx.addIssue({ code: 'custom', path: ['token'], message: 'mode api needs an API token: set LABEL_STUDIO_API_KEY' });
  } else if (!options.exportDir) {
    ctx.addIssue({ code: 'custom', path: ['exportDir'], message: 'mode export-dir needs the folder Label Studio exports to' });
  }
});

export type LabelStudioSourceOptions = z.input<typeof labelStudioSourceOptions>;
export type LabelStudioSettings = z.output<typeof labelStudioSourceOptions>;

/** Settings of mode `api`, with what it requires present. */
export type ApiSettings = LabelStudioSettings & { url: string; token: string };

/** `label-studio+http://host:port/projects/5`, never a token. */
export function labelStudioLocation(settings: Pick<LabelStudioSettings, 'url' | 'projects'>): string {
  const url = settings.url ?? '';
  const scheme = url.startsWith('https:') ? 'label-studio+https' : 'label-studio+http';
  const rest = url.replace(/^https?:\/\//, '');
  return `${scheme}://${rest}${settings.projects.length ? `/projects/${settings.projects.join(',')}` : ''}`;
}
