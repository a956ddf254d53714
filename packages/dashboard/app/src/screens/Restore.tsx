import { useState } from 'react';
import type { FormEvent } from 'react';
import type { RestoreMode, RestoreRequest } from '../api.js';
import { ErrorNote, Loading, Page, useApi, useLoad } from '../components.js';
import { localInputToIso } from '../format.js';
import { navigate, useLocation } from '../router.js';
import { snapshotLabel } from './Snapshots.js';

/** Restore a snapshot or a point in time, to a new folder or over the original; or the latest with defaults, in one click. */
export function RestoreScreen() {
  const api = useApi();
  const { search } = useLocation();
  const repositories = useLoad(() => api.repositories(), [api]);
  const [chosenRepository, setRepository] = useState(search.get('repo') ?? '');
  const repository = chosenRepository || repositories.data?.[0]?.name || '';
  const snapshots = useLoad(async () => (repository ? api.snapshots(repository) : []), [api, repository]);
  const list = [...(snapshots.data ?? [])].sort((a, b) => b.time.localeCompare(a.time));
  const [what, setWhat] = useState<'snapshot' | 'time'>('snapshot');
  const [snapshot, setSnapshot] = useState(search.get('snapshot') ?? '');
  const [at, setAt] = useState('');
  const [where, setWhere] = useState<RestoreMode>('new');
  const [targetDir, setTargetDir] = useState('');
  const [destination, setDestination] = useState('');
  const [quickDir, setQuickDir] = useState(defaultRestoreDir);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  const send = async (request: RestoreRequest): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      const result = await api.startRestore(request);
      navigate(`/runs/${encodeURIComponent(result.runId)}`);
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  };

  const submit = (event: FormEvent): void => {
    event.preventDefault();
    if (!repository) return setProblem('Choose a repository.');
    const request: RestoreRequest = { repository };
    if (what === 'snapshot') {
      const id = snapshot || list[0]?.id;
      if (!id) return setProblem('This repository has no snapshot to restore.');
      request.snapshot = id;
    } else {
      const iso = localInputToIso(at);
      if (!iso) return setProblem('Enter the date and time to restore to.');
      request.at = iso;
    }
    if (where === 'new') {
      if (!targetDir.trim().startsWith('/')) return setProblem('Enter the folder to restore into, as an absolute path (starting with /).');
      request.targetDir = targetDir.trim();
    } else {
      if (!destination.trim()) return setProblem('Enter where to restore: the URL of the system the data came from.');
      request.to = destination.trim();
      request.mode = where;
    }
    setProblem(undefined);
    void send(request);
  };

  if (repositories.loading && !repositories.data) return <Page title="Restore"><Loading what="repositories" /></Page>;
  return (
    <Page title="Restore">
      <ErrorNote error={repositories.error} title="Cannot load the repositories" />
      <ErrorNote error={error} title="The restore did not start" />
      <section className="panel" aria-labelledby="quick-title">
        <h2 id="quick-title">Restore the latest snapshot</h2>
        <p id="quick-help">Restores the newest snapshot of <strong>{repository || 'the repository'}</strong>, all of it, into a new folder on the server: nothing that exists is touched.</p>
        <div className="field">
          <label htmlFor="quick-target">Into the new folder</label>
          <input id="quick-target" value={quickDir} onChange={(event) => setQuickDir(event.target.value)} />
        </div>
        <div className="actions">
          <button
            type="button" disabled={busy || !repository} aria-describedby="quick-help"
            onClick={() => void send({ repository, snapshot: 'latest', targetDir: quickDir.trim() })}
          >Restore latest with defaults</button>
        </div>
      </section>
      <form onSubmit={submit} noValidate className="stack" aria-labelledby="custom-title">
        <h2 id="custom-title">Choose what and where</h2>
        {repositories.data && repositories.data.length > 1 ? (
          <div className="field">
            <label htmlFor="restore-repository">Repository</label>
            <select id="restore-repository" value={repository} onChange={(event) => { setRepository(event.target.value); setSnapshot(''); }}>
              {repositories.data.map((item) => <option key={item.name} value={item.name}>{item.name}</option>)}
            </select>
          </div>
        ) : null}
        <fieldset>
          <legend>What to restore</legend>
          <div className="choices">
            <label><input type="radio" name="what" value="snapshot" checked={what === 'snapshot'} onChange={() => setWhat('snapshot')} /> A snapshot</label>
            <label><input type="radio" name="what" value="time" checked={what === 'time'} onChange={() => setWhat('time')} /> A point in time</label>
          </div>
          {what === 'snapshot' ? (
            <div className="field">
              <label htmlFor="restore-snapshot">Snapshot</label>
              <select id="restore-snapshot" value={snapshot || list[0]?.id || ''} onChange={(event) => setSnapshot(event.target.value)}>
                {list.length === 0 ? <option value="">No snapshots</option> : null}
                {list.map((item, index) => <option key={item.id} value={item.id}>{snapshotLabel(item)}{index === 0 ? ' — latest' : ''}</option>)}
              </select>
            </div>
          ) : (
            <div className="field">
              <label htmlFor="restore-at">Date and time</label>
              <input id="restore-at" type="datetime-local" step={1} value={at} onChange={(event) => setAt(event.target.value)} aria-describedby="restore-at-help" />
              <p id="restore-at-help" className="help">The last snapshot taken at or before this moment, in your time zone, is restored.</p>
            </div>
          )}
        </fieldset>
        <fieldset>
          <legend>Where to</legend>
          <div className="choices column">
            <label><input type="radio" name="where" value="new" checked={where === 'new'} onChange={() => setWhere('new')} /> Into a new folder <span className="muted">(nothing existing is touched)</span></label>
            <label><input type="radio" name="where" value="merge" checked={where === 'merge'} onChange={() => setWhere('merge')} /> Merge into a live system <span className="muted">(adds and updates, deletes nothing)</span></label>
            <label><input type="radio" name="where" value="replace" checked={where === 'replace'} onChange={() => setWhere('replace')} /> Replace a live system's data <span className="muted">(what the snapshot does not have is removed)</span></label>
          </div>
          {where === 'new' ? (
            <div className="field">
              <label htmlFor="restore-target">New folder on the server</label>
              <input id="restore-target" value={targetDir} placeholder="/srv/restores/2025-01-02" onChange={(event) => setTargetDir(event.target.value)} aria-describedby="restore-target-help" />
              <p id="restore-target-help" className="help">An absolute path on the server; restore writes nothing outside it.</p>
            </div>
          ) : null}
          {where !== 'new' ? (
            <div className="field">
              <label htmlFor="restore-to">The system to restore into</label>
              <input id="restore-to" value={destination} placeholder="mysql://backup@db.example.com/shop" onChange={(event) => setDestination(event.target.value)} aria-describedby="restore-to-help" />
              <p id="restore-to-help" className="help">Its URL, as the job's source names it: a database (<code>mysql://…</code>), a bucket (<code>minio://…</code>), a Label Studio project. Credentials come from the server's environment, never from here.</p>
            </div>
          ) : null}
          {where === 'replace' ? <div className="note note-warn" role="note"><span aria-hidden="true">⚠ </span>Replace deletes what is there now and is not in the snapshot.</div> : null}
        </fieldset>
        {problem ? <p className="field-error" role="alert">{problem}</p> : null}
        <div><button type="submit" disabled={busy}>{busy ? 'Starting…' : 'Start restore'}</button></div>
      </form>
      <ErrorNote error={snapshots.error} title="Cannot load the snapshots" />
    </Page>
  );
}

/** A fresh folder name for the one-click restore: the time, so that two restores never meet. */
function defaultRestoreDir(): string {
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  return `/tmp/cairn-restore-${stamp}`;
}
