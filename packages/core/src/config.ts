import { existsSync, readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { sizeSchema } from './size.js';
import type { AnyTargetFactory, CairnPlugin } from './api.js';
import type { ExecutorInstance, NotifierInstance, SourceInstance } from './contracts.js';
import type { JsonValue } from './job-queue.js';
import { ConfigError } from './errors.js';
import { parseSchedule, scheduleSchema } from './schedule.js';
import type { ScheduleSpec } from './schedule.js';

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'names use letters, digits, ".", "_" and "-", starting with a letter or digit');
const level = z.number({ error: 'expected a compression level from 1 to 9' }).int().min(1).max(9)
  .describe('Compression level, 1 (fastest) to 9 (smallest).');

export const passwordSpec = z.union([
  z.string().min(1),
  z.strictObject({ env: z.string().min(1).describe('Environment variable holding the password.') }),
  z.strictObject({ file: z.string().min(1).describe('File holding the password (one trailing newline ignored).') }),
], { error: 'expected a password: a string, { env: "VARIABLE" } or { file: "/path/to/file" }' });
export type PasswordSpec = z.infer<typeof passwordSpec>;

export const retentionSchema = z.strictObject({
  keepLast: z.number().int().min(0).optional().describe('Keep the newest N snapshots.'),
  keepHourly: z.number().int().min(0).optional().describe('Keep the newest snapshot of each of the last N hours that have one.'),
  keepDaily: z.number().int().min(0).optional().describe('Same, per day.'),
  keepWeekly: z.number().int().min(0).optional().describe('Same, per ISO week.'),
  keepMonthly: z.number().int().min(0).optional().describe('Same, per month.'),
  keepYearly: z.number().int().min(0).optional().describe('Same, per year.'),
  keepWithin: z.string().regex(/^(\d+[ymwdh])+$/, 'expected a duration such as "30d", "12h", "2w" or "1y6m"').optional()
    .describe('Keep every snapshot newer than this duration.'),
  keepTags: z.array(z.string().min(1)).optional().describe('Keep every snapshot carrying one of these tags.'),
});

const sourceInstance = z.custom<SourceInstance>(
  (value) => isObject(value) && value.kind === 'source' && typeof value.name === 'string',
  { error: 'expected a source: call a source factory, e.g. filesSource({ path: "/data" })' },
);
const executorInstance = z.custom<ExecutorInstance>(
  (value) => isObject(value) && value.kind === 'executor' && typeof value.submit === 'function',
  { error: 'expected an executor: call an executor factory, e.g. localExecutor({ concurrency: 2 })' },
);
const pluginInstance = z.custom<CairnPlugin>(
  (value) => isObject(value) && typeof value.name === 'string' && typeof value.apply === 'function',
  { error: 'expected a plugin: an object with a name and an apply(cairn) function' },
);
const notifierInstance = z.custom<NotifierInstance>(
  (value) => isObject(value) && value.kind === 'notifier' && typeof value.notify === 'function',
  { error: 'expected a notifier: call a notifier factory, e.g. webhookNotifier({ url })' },
);
const notificationsSchema = z.strictObject({
  on: z.enum(['failure', 'success', 'always']).default('failure')
    .describe('When to notify: after a failed run (`failure`, the default), a successful one (`success`), or both (`always`).'),
  notifiers: z.array(z.string().min(1)).optional()
    .describe('Names of the notifiers (under `notifiers`) to tell; default all of them.'),
});
const targetFactory = z.custom<AnyTargetFactory>(
  (value) => typeof value === 'function' && typeof (value as { pluginName?: unknown }).pluginName === 'string',
  { error: 'expected a target plugin factory (e.g. localTarget), not a call to it' },
);

export const repositoryConfig = z.strictObject({
  url: z.string().min(1, 'expected a path or URL').describe('Where the repository lives: a local path or a URL (sftp://, s3://…).'),
  password: passwordSpec.describe('The repository password, or where to read it.'),
  compressionLevel: level.optional(),
});

/**
 * A job's sources: a list, or a function of the environment and the run's parameters (what a
 * trigger passed: `{ database_name: 'shop' }`) returning one.
 */
export type JobSourceList = SourceInstance[] | ((environment: string | undefined, params: Readonly<Record<string, JsonValue>>) => SourceInstance[]);

const sourceList = z.array(sourceInstance).min(1, 'a job needs at least one source');
/**
 * An array of sources, or a function of the environment returning one. Not a z.union: its one
 * summary message would hide which array element is wrong, so the array's own issues are kept.
 */
const jobSourcesSchema = z.custom<JobSourceList>().superRefine((value, ctx) => {
  if (typeof value === 'function') return;
  if (!Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: 'expected sources: an array of sources (e.g. [filesSource({ path: "/data" })]), or a function of the environment returning one' });
    return;
  }
  for (const issue of sourceList.safeParse(value).error?.issues ?? []) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
});

export const jobConfig = z.strictObject({
  sources: jobSourcesSchema.describe('What to back up: sources, or `(environment) => sources` when each environment has its own instances.'),
  userData: z.custom<JobSourceList>(
    (value) => typeof value === 'function' || (Array.isArray(value) && value.every((v) => isObject(v) && v.kind === 'source')),
    { error: 'expected sources (e.g. [filesSource({ path: "/srv/uploads" })]) or a function of the environment returning them' },
  ).optional().describe('The job\'s user data (uploads, home folders): backed up with the profile `with-user-data`, left out with `without-user-data`.'),
  profile: z.enum(['with-user-data', 'without-user-data']).optional().describe('Whether runs include the `userData` sources (default `with-user-data`); `cairn run --profile` overrides it.'),
  type: z.enum(['database', 'user_data', 'storage']).optional().describe('What kind of data this job protects, for listings and the API (`database`, `user_data`, `storage`).'),
  description: z.string().optional().describe('A sentence for people reading `cairn jobs`.'),
  repository: z.string().min(1).describe('Name of a repository defined under `repositories`.'),
  tags: z.array(z.string().min(1)).optional().describe('Tags added to every snapshot of this job.'),
  schedule: scheduleSchema.optional().describe('When to run: a cron expression, hourly/daily/weekly/monthly, or { cron, timezone, missed }.'),
  retention: retentionSchema.optional().describe('Which snapshots `forget` keeps.'),
  compressionLevel: level.optional(),
  environments: z.array(z.string().min(1)).optional().describe('Environments this job runs in; default all.'),
  notifications: notificationsSchema.optional().describe('Who hears about this job\'s runs, and when; default: every notifier, on failure.'),
  notificationEnabled: z.boolean().default(true).describe('false: no notifications for this job.'),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).optional().describe('Verbosity: the lowest level of this job\'s log lines that history keeps (default `info`; `debug` keeps every line).'),
  sizeLimit: sizeSchema.optional().describe('Largest amount of source data a run may back up (`50GiB`, `500MB` or bytes); a run that would read more is refused before it starts.'),
});

export const cairnConfig = z.strictObject({
  repositories: z.record(name, repositoryConfig).default({}),
  jobs: z.record(name, jobConfig).default({}),
  executor: executorInstance.optional(),
  notifiers: z.record(name, notifierInstance).default({}).describe('Named notifiers (email, webhook…) that jobs report their runs to.'),
  plugins: z.array(pluginInstance).optional(),
  /** Target plugins serving the URL schemes used in `repositories.*.url`. */
  targets: z.array(targetFactory).optional(),
  stateDir: z.string().min(1).optional()
    .describe('Folder for Cairn\'s own state: run history and logs (history.db) and schedule state (pauses, last runs). Relative to the config file; default `.cairn` beside it.'),
});

export type CairnConfigInput = z.input<typeof cairnConfig>;
export type CairnConfig = z.output<typeof cairnConfig>;
export type RepositoryConfig = z.output<typeof repositoryConfig>;
export type JobConfig = z.output<typeof jobConfig>;
export type RetentionConfig = z.output<typeof retentionSchema>;

/**
 * Validates a config at call time. Every problem is reported at once, one line each, prefixed
 * with its key path: `jobs.docs.repository: unknown repository "nope" (defined: main)`.
 */
export function defineConfig(config: CairnConfigInput): CairnConfig {
  const result = cairnConfig.safeParse(config);
  const problems = result.success ? [] : result.error.issues.flatMap((issue) => describeIssue(issue));
  problems.push(...crossReferenceProblems(config));
  if (problems.length > 0 || !result.success) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    throw new ConfigError(`invalid config (${count}): ${problems.join('; ')}`, { problems });
  }
  return Object.freeze(result.data);
}

/** Imports a config file (.mjs, .js, .ts, .mts) and validates its default export. */
export async function loadConfig(path: string): Promise<CairnConfig> {
  const file = resolve(path);
  if (!existsSync(file)) throw new ConfigError(`config file not found: ${file}`);
  if (!['.mjs', '.js', '.ts', '.mts', '.cjs', '.cts'].includes(extname(file))) {
    throw new ConfigError(`config file ${file} must be a .mjs, .js or .ts module that default-exports defineConfig({...})`);
  }
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`could not load config file ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (module.default === undefined) throw new ConfigError(`config file ${file} has no default export: end it with export default defineConfig({...})`);
  return defineConfig(module.default as CairnConfigInput);
}

/** The password a spec names. Errors name the variable or file, never the value. */
export function resolvePassword(spec: PasswordSpec, env: NodeJS.ProcessEnv = process.env): string {
  if (typeof spec === 'string') {
    if (spec.length === 0) throw new ConfigError('the password is empty');
    return spec;
  }
  if ('env' in spec) {
    const value = env[spec.env];
    if (value === undefined) throw new ConfigError(`environment variable ${spec.env} is not set: set it to the repository password`);
    if (value.length === 0) throw new ConfigError(`environment variable ${spec.env} is empty: set it to the repository password`);
    return value;
  }
  let text: string;
  try {
    text = readFileSync(spec.file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : `cannot be read (${code ?? 'error'})`;
    throw new ConfigError(`password file ${spec.file} ${why}`, { cause: error });
  }
  // One trailing newline is the editor's, not the password's (as restic and borg treat it).
  const password = text.replace(/\r?\n$/, '');
  if (password.length === 0) throw new ConfigError(`password file ${spec.file} is empty`);
  return password;
}

function crossReferenceProblems(config: unknown): string[] {
  if (!isObject(config) || !isObject(config.jobs)) return [];
  const repositories = isObject(config.repositories) ? Object.keys(config.repositories) : [];
  const defined = repositories.length ? repositories.join(', ') : 'none';
  const problems: string[] = [];
  for (const [jobName, job] of Object.entries(config.jobs)) {
    if (!isObject(job)) continue;
    const path = `jobs.${jobName}`;
    if (typeof job.repository === 'string' && job.repository && !repositories.includes(job.repository)) {
      problems.push(`${path}.repository: unknown repository "${job.repository}" (defined: ${defined})`);
    }
    const notifierNames = isObject(config.notifiers) ? Object.keys(config.notifiers) : [];
    const chosen = isObject(job.notifications) && Array.isArray(job.notifications.notifiers) ? job.notifications.notifiers : [];
    chosen.forEach((notifier: unknown, index) => {
      if (typeof notifier === 'string' && notifier && !notifierNames.includes(notifier)) {
        problems.push(`${path}.notifications.notifiers[${index}]: unknown notifier "${notifier}" (defined: ${notifierNames.length ? notifierNames.join(', ') : 'none'})`);
      }
    });
    if (job.schedule !== undefined && scheduleSchema.safeParse(job.schedule).success) {
      try {
        parseSchedule(job.schedule as ScheduleSpec, `${path}.schedule`);
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    if (Array.isArray(job.sources)) {
      const seen = new Map<string, number>();
      job.sources.forEach((source: unknown, index) => {
        if (!isObject(source) || typeof source.name !== 'string') return;
        const first = seen.get(source.name);
        if (first === undefined) seen.set(source.name, index);
        else problems.push(`${path}.sources[${index}]: source name "${source.name}" is also used by ${path}.sources[${first}]; give each source a distinct name`);
      });
    }
  }
  return problems;
}

function describeIssue(issue: z.core.$ZodIssue, prefix: PropertyKey[] = []): string[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_key') return issue.issues.flatMap((inner) => describeIssue(inner, path)).map((line) => line.replace(/: /, ' (key): '));
  return [`${formatPath(path)}: ${issue.message}`];
}

function formatPath(path: PropertyKey[]): string {
  if (path.length === 0) return '(config)';
  return path.map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i ? '.' : ''}${String(key)}`)).join('');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
