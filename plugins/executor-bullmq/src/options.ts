import { z } from 'zod';

const DAY_MS = 86_400_000;

export const bullmqExecutorOptions = z.strictObject({
  connection: z.union([
    z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL'),
    z.record(z.string(), z.unknown()),
  ], { error: 'expected a redis:// URL or ioredis options ({ host, port, password, tls… })' })
    .describe('The Redis server: a `redis://[:password@]host:port[/db]` (or `rediss://`) URL, or ioredis options.'),
  queueName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-", starting with a letter or digit').default('jobs')
    .describe('The BullMQ queue the runs go through; every process of one installation uses the same name.'),
  prefix: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-", starting with a letter or digit').default('cairn')
    .describe('Prefix of every Redis key: lets installations share one Redis.'),
  concurrency: z.number().int().min(1).max(64).default(1)
    .describe('How many of the orchestrator\'s own operations (backup, restore, check…) run at once in each process.'),
  lockDurationMs: z.number().int().min(1_000).max(DAY_MS).default(30_000)
    .describe('How long a worker holds a run without renewing its lock (it renews at half this). A worker that died (SIGKILL, power loss) gives its run up this long after; it must exceed the longest stall of a worker\'s event loop.'),
  stalledIntervalMs: z.number().int().min(500).max(DAY_MS).default(30_000)
    .describe('How often workers look for runs whose lock expired and put them back in the queue.'),
  maxStalledCount: z.number().int().min(0).max(100).default(2)
    .describe('How many times a run may lose its worker (put back after a dead worker) before it fails instead.'),
  connectTimeoutMs: z.number().int().min(100).max(600_000).default(5_000)
    .describe('How long to wait for Redis, at start and after a lost connection, before failing with QUEUE_UNAVAILABLE.'),
  dependencyPollMs: z.number().int().min(50).max(600_000).default(2_000)
    .describe('How often a run with `dependsOn` looks again at the runs it waits for.'),
  keepEndedRunsMs: z.number().int().min(1_000).max(365 * DAY_MS).default(7 * DAY_MS)
    .describe('How long ended runs (results, errors) stay in Redis for `get`, `list` and `wait`.'),
});

export type BullmqExecutorOptions = z.input<typeof bullmqExecutorOptions>;
export type ResolvedBullmqOptions = z.output<typeof bullmqExecutorOptions>;
