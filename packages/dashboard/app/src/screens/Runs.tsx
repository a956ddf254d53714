import { isActive } from '../api.js';
import type { Run } from '../api.js';
import { ErrorNote, Loading, Page, RunProgress, StatusBadge, TableBox, useApi, useLoad, useNow } from '../components.js';
import { formatBytes, formatCount, formatDuration, formatTime } from '../format.js';
import { Link } from '../router.js';

const POLL_MS = 2000;

/** Runs now: what is queued or running, live, then the latest that ended. */
export function RunsScreen() {
  const api = useApi();
  const runs = useLoad((signal) => api.runs({ limit: 30 }, signal), [api], { pollMs: POLL_MS });
  const now = useNow(1000);
  const list = runs.data ?? [];
  const active = list.filter((run) => isActive(run.status));
  const ended = list.filter((run) => !isActive(run.status)).slice(0, 10);
  return (
    <Page title="Runs" actions={<Link className="button" to="/backup">Back up now</Link>}>
      <ErrorNote error={runs.error} title="Cannot load the runs" />
      {runs.loading && !runs.data ? <Loading what="runs" /> : null}
      <section aria-labelledby="active-title">
        <h2 id="active-title">In progress</h2>
        {active.length === 0 ? <p className="muted">Nothing is running. The list updates by itself.</p> : (
          <ul className="cards">
            {active.map((run) => (
              <li key={run.id} className="card">
                <h3><Link to={`/runs/${encodeURIComponent(run.id)}`}>{runTitle(run)}</Link></h3>
                <p><StatusBadge status={run.status} /> · started {formatTime(run.startedAt)}{run.requestedBy ? ` by ${run.requestedBy}` : ''}</p>
                <RunProgress run={run} now={now} compact />
              </li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="recent-title">
        <h2 id="recent-title">Recently ended</h2>
        {ended.length === 0 ? <p className="muted">No run has ended yet.</p> : <RunTable runs={ended} caption="Runs that ended most recently" />}
        <p><Link to="/history">All runs, with filters</Link></p>
      </section>
    </Page>
  );
}

export function runTitle(run: Run): string {
  const what = run.operation === 'restore' ? 'Restore' : run.operation === 'backup' ? 'Backup' : run.operation.charAt(0).toUpperCase() + run.operation.slice(1);
  return `${what}${run.job ? ` of ${run.job}` : ''}${run.environment ? ` (${run.environment})` : ''}`;
}

/** Runs as a table: each links to its page and its log. */
export function RunTable(props: { runs: Run[]; caption: string }) {
  return (
    <TableBox label={props.caption}>
      <table>
        <caption className="sr-only">{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Status</th>
            <th scope="col">Started</th>
            <th scope="col">Duration</th>
            <th scope="col" className="num">Size</th>
            <th scope="col" className="num">Files</th>
            <th scope="col">By</th>
            <th scope="col">Log</th>
          </tr>
        </thead>
        <tbody>
          {props.runs.map((run) => {
            const page = `/runs/${encodeURIComponent(run.id)}`;
            return (
              <tr key={run.id}>
                <th scope="row"><Link to={page}>{runTitle(run)}</Link><br /><small className="muted">{run.id}</small></th>
                <td><StatusBadge status={run.status} />{run.error ? <><br /><small>{run.error.message}</small></> : null}</td>
                <td>{formatTime(run.startedAt)}</td>
                <td>{formatDuration(run.durationMs)}</td>
                <td className="num">{formatBytes(run.bytesRead ?? run.bytesWritten ?? run.progress?.bytesDone)}</td>
                <td className="num">{formatCount(run.files ?? run.progress?.filesDone)}</td>
                <td>{run.requestedBy ?? '—'}</td>
                <td><Link to={`${page}#log`} aria-label={`Log of ${runTitle(run)}, run ${run.id}`}>Log</Link></td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </TableBox>
  );
}
