import type { FormEvent } from 'react';
import { RUN_STATUSES } from '../api.js';
import { ErrorNote, Loading, Page, useApi, useLoad } from '../components.js';
import { navigate, useLocation } from '../router.js';
import { RunTable } from './Runs.js';

const STATUS_LABELS: Record<string, string> = { queued: 'Queued', running: 'Running', succeeded: 'Succeeded', failed: 'Failed', aborted: 'Aborted' };

/** Every run, newest first, filtered by status and job; the filters live in the address, so a filtered view can be shared. */
export function HistoryScreen() {
  const api = useApi();
  const { search } = useLocation();
  const status = search.get('status') ?? '';
  const job = search.get('job') ?? '';
  const limit = Number(search.get('limit') ?? 100) || 100;
  const runs = useLoad((signal) => api.runs({ ...(status ? { status } : {}), ...(job ? { job } : {}), limit }, signal), [api, status, job, limit]);
  const jobs = useLoad(() => api.jobs(), [api]);

  const apply = (event: FormEvent<HTMLFormElement>): void => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const next = new URLSearchParams();
    for (const key of ['status', 'job']) {
      const value = form.get(key);
      if (typeof value === 'string' && value !== '') next.set(key, value);
    }
    navigate(`/history${next.size > 0 ? `?${next.toString()}` : ''}`);
  };

  return (
    <Page title="History">
      <form className="filters" onSubmit={apply} aria-label="Filter runs" key={`${status}|${job}`}>
        <div className="field inline">
          <label htmlFor="filter-status">Status</label>
          <select id="filter-status" name="status" defaultValue={status}>
            <option value="">Any status</option>
            {RUN_STATUSES.map((item) => <option key={item} value={item}>{STATUS_LABELS[item]}</option>)}
          </select>
        </div>
        <div className="field inline">
          <label htmlFor="filter-job">Job</label>
          <select id="filter-job" name="job" defaultValue={job}>
            <option value="">Any job</option>
            {(jobs.data ?? []).map((item) => <option key={item.name} value={item.name}>{item.name}</option>)}
            {job && !(jobs.data ?? []).some((item) => item.name === job) ? <option value={job}>{job}</option> : null}
          </select>
        </div>
        <button type="submit">Apply filters</button>
      </form>
      <ErrorNote error={runs.error} title="Cannot load the history" />
      {runs.loading && !runs.data ? <Loading what="runs" /> : null}
      {runs.data ? (
        <>
          <p role="status">{runs.data.length === 0 ? 'No runs match these filters.' : `${runs.data.length} run${runs.data.length === 1 ? '' : 's'}${runs.data.length === limit ? ` (the latest ${limit})` : ''}.`}</p>
          {runs.data.length > 0 ? <RunTable runs={runs.data} caption="Runs, newest first" /> : null}
        </>
      ) : null}
    </Page>
  );
}
