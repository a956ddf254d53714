import type { FormEvent } from 'react';
import type { DiffEntry, SnapshotRow } from '../api.js';
import { ErrorNote, Loading, Page, TableBox, useApi, useLoad } from '../components.js';
import { formatBytes, formatCount, formatTime, parentPath, pathCrumbs, shortId } from '../format.js';
import { Link, navigate, useLocation } from '../router.js';

const enc = encodeURIComponent;

/** Repositories and their snapshots: browse one, restore one, or compare two. */
export function SnapshotsScreen() {
  const api = useApi();
  const { search } = useLocation();
  const repositories = useLoad(() => api.repositories(), [api]);
  const repository = search.get('repo') ?? repositories.data?.[0]?.name ?? '';
  const snapshots = useLoad(async () => (repository ? api.snapshots(repository) : []), [api, repository]);
  const list = [...(snapshots.data ?? [])].sort((a, b) => b.time.localeCompare(a.time));

  const compare = (event: FormEvent<HTMLFormElement>): void => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    navigate(`/snapshots/${enc(repository)}/diff?from=${enc(String(form.get('from')))}&to=${enc(String(form.get('to')))}`);
  };

  return (
    <Page title="Snapshots">
      <ErrorNote error={repositories.error} title="Cannot load the repositories" />
      {repositories.data && repositories.data.length > 1 ? (
        <div className="field inline">
          <label htmlFor="repository">Repository</label>
          <select id="repository" value={repository} onChange={(event) => navigate(`/snapshots?repo=${enc(event.target.value)}`, { replace: true })}>
            {repositories.data.map((item) => <option key={item.name} value={item.name}>{item.name}{item.location ? ` — ${item.location}` : ''}</option>)}
          </select>
        </div>
      ) : repository ? <p>Repository <strong>{repository}</strong>{repositories.data?.[0]?.location ? <> at <code>{repositories.data[0].location}</code></> : null}</p> : null}
      <ErrorNote error={snapshots.error} title="Cannot load the snapshots" />
      {snapshots.loading && !snapshots.data ? <Loading what="snapshots" /> : null}
      {snapshots.data && list.length === 0 ? <p>No snapshots yet. <Link to="/backup">Back up now</Link> to make the first.</p> : null}
      {list.length > 0 ? (
        <>
          <SnapshotTable repository={repository} snapshots={list} />
          {list.length > 1 ? (
            <form className="filters panel" onSubmit={compare} aria-labelledby="compare-title">
              <h2 id="compare-title">Compare two snapshots</h2>
              <div className="field inline">
                <label htmlFor="from">Older</label>
                <select id="from" name="from" defaultValue={list[1]!.id}>{list.map((item) => <option key={item.id} value={item.id}>{snapshotLabel(item)}</option>)}</select>
              </div>
              <div className="field inline">
                <label htmlFor="to">Newer</label>
                <select id="to" name="to" defaultValue={list[0]!.id}>{list.map((item) => <option key={item.id} value={item.id}>{snapshotLabel(item)}</option>)}</select>
              </div>
              <button type="submit">Compare</button>
            </form>
          ) : null}
        </>
      ) : null}
    </Page>
  );
}

export function snapshotLabel(snapshot: SnapshotRow): string {
  return `${shortId(snapshot.id)} — ${formatTime(snapshot.time)}${snapshot.tags.length > 0 ? ` (${snapshot.tags.join(', ')})` : ''}`;
}

function SnapshotTable(props: { repository: string; snapshots: SnapshotRow[] }) {
  return (
    <TableBox label="Snapshots">
      <table>
        <caption className="sr-only">Snapshots in {props.repository}, newest first</caption>
        <thead>
          <tr><th scope="col">Snapshot</th><th scope="col">Taken</th><th scope="col">Tags</th><th scope="col" className="num">Size</th><th scope="col" className="num">New data</th><th scope="col">Complete</th><th scope="col">Actions</th></tr>
        </thead>
        <tbody>
          {props.snapshots.map((snapshot) => (
            <tr key={snapshot.id}>
              <th scope="row"><code>{shortId(snapshot.id)}</code></th>
              <td>{formatTime(snapshot.time)}</td>
              <td>{snapshot.tags.join(', ') || '—'}</td>
              <td className="num">{formatBytes(snapshot.summary?.bytesTotal)}</td>
              <td className="num">{formatBytes(snapshot.summary?.bytesAdded)}</td>
              <td>{snapshot.summary?.complete === false ? <><span aria-hidden="true">⚠ </span>incomplete</> : <><span aria-hidden="true">✓ </span>yes</>}</td>
              <td>
                <div className="row-actions">
                  <Link to={`/snapshots/${enc(props.repository)}/${enc(snapshot.id)}`} aria-label={`Browse snapshot ${shortId(snapshot.id)}`}>Browse</Link>
                  <Link to={`/restore?repo=${enc(props.repository)}&snapshot=${enc(snapshot.id)}`} aria-label={`Restore snapshot ${shortId(snapshot.id)}`}>Restore</Link>
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableBox>
  );
}

/** A snapshot's tree, one directory at a time, with sizes. */
export function TreeScreen(props: { repository: string; snapshot: string }) {
  const api = useApi();
  const { search } = useLocation();
  const path = search.get('path') ?? '';
  const tree = useLoad(() => api.tree(props.repository, props.snapshot, path), [api, props.repository, props.snapshot, path]);
  const base = `/snapshots/${enc(props.repository)}/${enc(props.snapshot)}`;
  const at = (to: string): string => (to ? `${base}?path=${enc(to)}` : base);
  const entries = [...(tree.data ?? [])].sort((a, b) => (a.type === 'dir' ? 0 : 1) - (b.type === 'dir' ? 0 : 1) || a.name.localeCompare(b.name));
  return (
    <Page title={`Snapshot ${shortId(props.snapshot)}`} actions={<Link className="button" to={`/restore?repo=${enc(props.repository)}&snapshot=${enc(props.snapshot)}`}>Restore this snapshot</Link>}>
      <p><Link to={`/snapshots?repo=${enc(props.repository)}`}>All snapshots in {props.repository}</Link></p>
      <nav aria-label="Folder path" className="crumbs">
        <ol>
          <li><Link to={at('')} aria-current={path === '' ? 'page' : undefined}>(root)</Link></li>
          {pathCrumbs(path).map((crumb) => (
            <li key={crumb.path}><Link to={at(crumb.path)} aria-current={crumb.path === path ? 'page' : undefined}>{crumb.name}</Link></li>
          ))}
        </ol>
      </nav>
      <ErrorNote error={tree.error} title="Cannot read this folder" />
      {tree.loading && !tree.data ? <Loading what="the folder" /> : null}
      {tree.data ? (
        <TableBox label={`Contents of ${path || 'the snapshot root'}`}>
          <table>
            <caption className="sr-only">Contents of {path || 'the snapshot root'}</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col" className="num">Size</th><th scope="col">Modified</th></tr></thead>
            <tbody>
              {path ? <tr><th scope="row"><Link to={at(parentPath(path))}><span aria-hidden="true">↑ </span>Up one folder</Link></th><td>folder</td><td /><td /></tr> : null}
              {entries.length === 0 ? <tr><td colSpan={4} className="muted">This folder is empty.</td></tr> : null}
              {entries.map((entry) => (
                <tr key={entry.path}>
                  <th scope="row">
                    {entry.type === 'dir'
                      ? <Link to={at(entry.path)}>{entry.name}/</Link>
                      : <span>{entry.name}</span>}
                  </th>
                  <td>{entry.type === 'dir' ? 'folder' : entry.type === 'symlink' ? `link to ${entry.linkTarget ?? '?'}` : 'file'}</td>
                  <td className="num">{entry.size === undefined || entry.size === null ? '—' : formatBytes(entry.size)}</td>
                  <td>{formatTime(entry.mtime)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      ) : null}
    </Page>
  );
}

const CHANGE: Record<DiffEntry['change'], { icon: string; text: string }> = {
  added: { icon: '+', text: 'added' },
  removed: { icon: '−', text: 'removed' },
  modified: { icon: '~', text: 'changed' },
  metadata: { icon: '·', text: 'metadata only' },
};

/** What changed between two snapshots. */
export function DiffScreen(props: { repository: string }) {
  const api = useApi();
  const { search } = useLocation();
  const from = search.get('from') ?? '';
  const to = search.get('to') ?? '';
  const diff = useLoad(() => api.diff(props.repository, from, to), [api, props.repository, from, to]);
  const list = diff.data ?? [];
  const counts = list.reduce<Record<string, number>>((acc, entry) => ({ ...acc, [entry.change]: (acc[entry.change] ?? 0) + 1 }), {});
  return (
    <Page title={`Changes from ${shortId(from)} to ${shortId(to)}`}>
      <p><Link to={`/snapshots?repo=${enc(props.repository)}`}>All snapshots in {props.repository}</Link></p>
      <ErrorNote error={diff.error} title="Cannot compare" />
      {diff.loading && !diff.data ? <Loading what="the changes" /> : null}
      {diff.data ? (
        <>
          <p role="status">{list.length === 0 ? 'No differences.' : (Object.keys(CHANGE) as Array<DiffEntry['change']>).filter((key) => counts[key]).map((key) => `${formatCount(counts[key])} ${CHANGE[key].text}`).join(', ')}</p>
          {list.length > 0 ? (
            <TableBox label="Changes">
              <table>
                <caption className="sr-only">Entries that differ</caption>
                <thead><tr><th scope="col">Change</th><th scope="col">Path</th><th scope="col">Type</th></tr></thead>
                <tbody>
                  {list.map((entry) => (
                    <tr key={`${entry.change}:${entry.path}`} className={`change-${entry.change}`}>
                      <td><span aria-hidden="true" className="change-icon">{CHANGE[entry.change]?.icon ?? '?'} </span>{CHANGE[entry.change]?.text ?? entry.change}</td>
                      <th scope="row"><code>{entry.path}</code></th>
                      <td>{entry.type === 'dir' ? 'folder' : entry.type}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableBox>
          ) : null}
        </>
      ) : null}
    </Page>
  );
}
