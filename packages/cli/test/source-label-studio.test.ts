import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  annotationsOf, api, choice, createProject, createSnapshot, dropProjects, projectState, seedTasks, sourceUrl, taskIds, token, track, url,
} from '../../../plugins/source-label-studio/test/label-studio-services.js';
import { unusedPort } from '@cairn/testkit';
import type { ProjectState } from '../../../plugins/source-label-studio/test/label-studio-services.js';
import { cli, expectOneErrorLine, tempDir, type CliResult } from './helpers.js';

/**
 * Acceptance of the label-studio source through the real `cairn` command against the Label Studio
 * test server: `cairn backup label-studio+http://…/projects/ID` twice around edits, `cairn restore
 * --to label-studio+http://…` of each snapshot into a new project equal to the project at that
 * time, into an existing empty project, and each way the server side can be wrong exiting 1 with
 * one line on stderr that holds no token.
 */

const PASSWORD = 'correct horse battery staple';
const keys = { LABEL_STUDIO_API_KEY: token };

let dir: { path: string; cleanup: () => Promise<void> };
let repo: string;
let project: number;
let title: string;

beforeAll(async () => {
  dir = await tempDir('cairn-ls-cli-');
  repo = join(dir.path, 'repo');
  project = await createProject('cairn-ls-cli', { description: 'through the CLI', color: '#336699', show_instruction: true, expert_instruction: '<p>Be kind</p>' });
  title = (await api<{ title: string }>('GET', `/api/projects/${project}/`)).title;
  await ok(['init', '--repo', repo]);
});
afterAll(async () => {
  await dropProjects();
  await dir?.cleanup();
});

async function run(args: string[], env: Record<string, string> = keys): Promise<CliResult> {
  return cli(args, { env: { CAIRN_PASSWORD: PASSWORD, ...env }, cwd: dir.path });
}

async function ok(args: string[], env?: Record<string, string>): Promise<string> {
  const result = await run(args, env);
  if (result.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** Exit 1 and one `cairn: …` line that holds no secret; returns the line. */
function failsWithOneLine(result: CliResult, ...secrets: string[]): string {
  expect(result.code, result.stderr).toBe(1);
  const line = expectOneErrorLine(result.stderr);
  for (const secret of [token, PASSWORD, ...secrets]) expect(line).not.toContain(secret);
  return line;
}

/** Projects with the test project's title other than the original, i.e. those restores created. */
async function copies(): Promise<number[]> {
  const ids: number[] = [];
  for (let page = 1; ; page++) {
    const answer = await api<{ results: Array<{ id: number; title: string }>; next: string | null }>('GET', `/api/projects/?page=${page}&page_size=100`);
    ids.push(...answer.results.filter((p) => p.title === title && p.id !== project).map((p) => track(p.id)));
    if (!answer.next) return ids.sort((a, b) => a - b);
  }
}

describe('cairn with label-studio+http:// sources', () => {
  it('backs up a project, edits it, backs it up again, and restores each snapshot into a new project as it was', async () => {
    await seedTasks(project, 50);
    const ids = await taskIds(project);
    await api('POST', `/api/tasks/${ids[2]}/annotations/`, { result: [choice('positive')], ground_truth: false });
    await createSnapshot(project, 'cli snapshot');
    const v1 = await projectState(project);
    const first = JSON.parse(await ok(['backup', sourceUrl(project), '--repo', repo, '--json'])) as { id: string; summary: { filesNew: number } };
    expect(first.summary.filesNew).toBe(5);

    const [annotation] = await annotationsOf(ids[0]!);
    await api('PATCH', `/api/annotations/${annotation!.id}/`, { result: [choice('neutral')] });
    await api('DELETE', `/api/tasks/${ids[7]}/`);
    await seedTasks(project, 3, 200);
    const v2 = await projectState(project);
    const second = JSON.parse(await ok(['backup', sourceUrl(project), '--repo', repo, '--json'])) as { id: string; summary: { filesUnchanged: number } };
    expect(second.summary.filesUnchanged).toBe(1); // the export snapshot

    const listing = await ok(['ls', second.id, '--repo', repo]);
    expect(listing).toContain(`label-studio-${project}/projects/${project}/tasks.json`);

    const seen: number[] = [];
    for (const [id, expected] of [[first.id, v1], [second.id, v2]] as Array<[string, ProjectState]>) {
      const out = await ok(['restore', id, '--repo', repo, '--to', sourceUrl()]);
      const copy = (await copies()).filter((c) => !seen.includes(c)).at(-1)!;
      // It says which project it created, in the form --to takes.
      expect(out).toContain(`into ${sourceUrl(copy)}: `);
      seen.push(copy);
      expect(await projectState(copy)).toEqual(expected);
    }
  });

  it('restores into an existing empty project; mode new into a project with tasks exits 1 with one line', async () => {
    const empty = track((await api<{ id: number }>('POST', '/api/projects/', { title: `cairn-ls-cli-empty-${Date.now()}` })).id);
    await ok(['restore', 'latest', '--repo', repo, '--to', sourceUrl(empty)]);
    const expected = await projectState(project);
    expect(await projectState(empty)).toEqual(expected);

    const line = failsWithOneLine(await run(['restore', 'latest', '--repo', repo, '--to', sourceUrl(empty)]));
    expect(line).toMatch(new RegExp(`project ${empty} on ${url} already holds ${expected.tasks.length} tasks: .*--mode merge .*--mode replace`));

    await ok(['restore', 'latest', '--repo', repo, '--to', sourceUrl(empty), '--mode', 'replace']);
    expect(await projectState(empty)).toEqual(expected);
  });

  it('a wrong token: exit 1, one line naming the variable, never the token', async () => {
    const wrong = 'not0the0right0token000000000000000000000';
    const line = failsWithOneLine(await run(['backup', sourceUrl(project), '--repo', repo], { LABEL_STUDIO_API_KEY: wrong }), wrong);
    expect(line).toBe(`cairn: [label-studio] ${url} rejected the API token (HTTP 401: Invalid token.): check LABEL_STUDIO_API_KEY; a legacy token works only when legacy tokens are enabled for the organization`);
  });

  it('no token: exit 2 (a usage problem), naming the variable to set', async () => {
    const result = await run(['backup', sourceUrl(project), '--repo', repo], {});
    expect(result.code).toBe(2);
    expect(expectOneErrorLine(result.stderr)).toMatch(/no API token: set LABEL_STUDIO_API_KEY/);
  });

  it('a missing project: exit 1, one line naming it, for backup and for restore', async () => {
    const backup = failsWithOneLine(await run(['backup', sourceUrl(987_654), '--repo', repo]));
    expect(backup).toContain(`project 987654 does not exist on ${url}, or the token's user cannot see it`);
    const restore = failsWithOneLine(await run(['restore', 'latest', '--repo', repo, '--to', sourceUrl(987_654)]));
    expect(restore).toContain(`project 987654 does not exist on ${url}`);
  });

  it('a server that is down: exit 1 within seconds, one line saying it cannot be reached', async () => {
    const port = await unusedPort();
    const started = performance.now();
    const line = failsWithOneLine(await run(['backup', `label-studio+http://127.0.0.1:${port}/projects/1`, '--repo', repo]));
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(line).toBe(`cairn: [label-studio] cannot reach Label Studio at http://127.0.0.1:${port} (ECONNREFUSED): check the host and port in the URL and that the server is running`);
  });
});
