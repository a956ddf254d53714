import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError, errorFromResponse, listFrom, restoreFolderRefusal } from '../app/src/api.js';

/** A fetch that answers every request with `response` and records what was asked. */
function fakeFetch(answer: () => Response | Promise<Response>) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fetcher = (async (input: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(input), init: init ?? {} });
    return answer();
  }) as typeof fetch;
  return { fetcher, calls };
}

const json = (status: number, body: unknown): Response => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('ApiClient', () => {
  it('sends the bearer token and JSON, and parses the answer', async () => {
    const { fetcher, calls } = fakeFetch(() => json(202, { runId: 'r1', deduplicated: false, job: 'files' }));
    const api = new ApiClient({ token: 'tok', fetch: fetcher, baseUrl: 'http://h' });
    await expect(api.triggerBackup({ job: 'files', environment: 'prod' })).resolves.toEqual({ runId: 'r1', deduplicated: false, job: 'files' });
    expect(calls[0]!.url).toBe('http://h/api/trigger-backup');
    expect(calls[0]!.init.method).toBe('POST');
    expect((calls[0]!.init.headers as Record<string, string>).authorization).toBe('Bearer tok');
    expect(JSON.parse(String(calls[0]!.init.body))).toEqual({ job: 'files', environment: 'prod' });
  });

  it('rejects with the API error code, message and zod issues', async () => {
    const { fetcher } = fakeFetch(() => json(400, {
      error: { code: 'INVALID_REQUEST', message: 'The request is not valid.', issues: [{ path: ['database_name'], message: 'required for type database' }] },
    }));
    const api = new ApiClient({ token: 't', fetch: fetcher });
    const error = await api.triggerBackup({ type: 'database' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
    expect((error as ApiError).describe()).toBe('The request is not valid. database_name: required for type database');
  });

  it('calls onUnauthorized on a 401, then rejects', async () => {
    const heard: ApiError[] = [];
    const { fetcher } = fakeFetch(() => json(401, { error: { code: 'AUTH_EXPIRED', message: 'The token expired.' } }));
    const api = new ApiClient({ token: 't', fetch: fetcher, onUnauthorized: (error) => heard.push(error) });
    await expect(api.me()).rejects.toMatchObject({ status: 401, code: 'AUTH_EXPIRED' });
    expect(heard.map((error) => error.message)).toEqual(['The token expired.']);
  });

  it('does not sign out on a 403', async () => {
    const heard: ApiError[] = [];
    const { fetcher } = fakeFetch(() => json(403, { error: { code: 'AUTH_FORBIDDEN', message: 'Needs the admin role.' } }));
    const api = new ApiClient({ token: 't', fetch: fetcher, onUnauthorized: (error) => heard.push(error) });
    await expect(api.setPaused(true)).rejects.toMatchObject({ status: 403 });
    expect(heard).toEqual([]);
  });

  it('explains a network failure and an answer that is not JSON', async () => {
    const down = new ApiClient({ token: 't', fetch: (async () => { throw new TypeError('fetch failed'); }) as typeof fetch });
    await expect(down.jobs()).rejects.toMatchObject({ code: 'NETWORK', status: 0 });
    const html = new ApiClient({ token: 't', fetch: fakeFetch(() => new Response('<html>', { status: 200 })).fetcher });
    await expect(html.jobs()).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
  });

  it('accepts lists bare or wrapped, and nested or flat run details', async () => {
    let body: unknown = { runs: [{ id: 'a' }] };
    const api = new ApiClient({ token: 't', fetch: fakeFetch(() => json(200, body)).fetcher });
    expect(await api.runs()).toEqual([{ id: 'a' }]);
    body = [{ id: 'b' }];
    expect(await api.runs()).toEqual([{ id: 'b' }]);
    body = { run: { id: 'c', status: 'running' }, progress: { bytesDone: 5 }, logs: [{ seq: 1, time: 't', level: 'info', message: 'm' }] };
    expect(await api.run('c')).toEqual({ run: { id: 'c', status: 'running', progress: { bytesDone: 5 } }, logs: [{ seq: 1, time: 't', level: 'info', message: 'm' }] });
    body = { id: 'd', status: 'succeeded', logs: [] };
    expect(await api.run('d')).toEqual({ run: { id: 'd', status: 'succeeded' }, logs: [] });
  });

  it('puts filters and the SSE token in the query, encoded', async () => {
    const { fetcher, calls } = fakeFetch(() => json(200, []));
    const api = new ApiClient({ token: 'a b', fetch: fetcher });
    await api.runs({ job: 'my job', status: 'failed', limit: 5 });
    expect(calls[0]!.url).toBe('/api/runs?job=my+job&status=failed&limit=5');
    await api.tree('main', 'abc', 'x/y');
    expect(calls[1]!.url).toBe('/api/repositories/main/snapshots/abc/tree?path=x%2Fy');
    expect(api.eventsUrl('r/1')).toBe('/api/runs/r%2F1/events?access_token=a+b');
  });
});

describe('errorFromResponse', () => {
  it('falls back to a message a person can act on when the body says nothing', async () => {
    const error = await errorFromResponse(new Response('oops', { status: 429, statusText: 'Too Many Requests' }));
    expect(error).toMatchObject({ status: 429, code: 'HTTP_429', message: 'Too many requests. Wait a moment and try again.' });
    const other = await errorFromResponse(new Response('', { status: 502, statusText: 'Bad Gateway' }));
    expect(other.message).toBe('The server answered 502 Bad Gateway.');
  });
});

describe('restoreFolderRefusal', () => {
  it('turns the server\'s refusal of a restore\'s folder into a sentence for that field, and nothing else', () => {
    const taken = new ApiError(409, 'RESTORE_FOLDER_NOT_EMPTY', 'the folder docs in the restore folder /srv/restores already holds files, and a restore never writes over what exists: choose another name, like docs-2');
    expect(restoreFolderRefusal(taken)).toBe('The folder docs in the restore folder /srv/restores already holds files, and a restore never writes over what exists: choose another name, like docs-2.');
    expect(restoreFolderRefusal(new ApiError(400, 'RESTORE_OUTSIDE_FOLDER', 'targetDir must be a folder inside the restore folder'))).toBe('targetDir must be a folder inside the restore folder.');
    expect(restoreFolderRefusal(new ApiError(409, 'RESTORE_UNWRITABLE', 'cannot create the folder /srv/restores/a (EEXIST): choose another name'))).toBe('Cannot create the folder /srv/restores/a (EEXIST): choose another name.');
    expect(restoreFolderRefusal(new ApiError(409, 'REPO_LOCKED', 'the repository is locked'))).toBeUndefined();
    expect(restoreFolderRefusal(new Error('RESTORE_FOLDER_NOT_EMPTY'))).toBeUndefined();
  });
});

describe('listFrom', () => {
  it('finds nothing in what is not a list', () => {
    expect(listFrom(null, 'runs')).toEqual([]);
    expect(listFrom({ runs: 'x' }, 'runs')).toEqual([]);
  });
});
