import { useState } from 'react';
import type { FormEvent } from 'react';
import { restoreFolderRefusal } from '../api.js';
import type { RestoreMode, RestoreRequest } from '../api.js';
import { ErrorNote, Loading, Page, useApi, useLoad } from '../components.js';
import { localInputToIso, restoreFolderName, restoreFolderProblem } from '../format.js';
import { navigate, useLocation } from '../router.js';
import { snapshotLabel } from './Snapshots.js';

/** Restore a snapshot or a point in time, to a new folder or over the original; or the latest with defaults, in one click. */
export function RestoreScreen() {
  const api = useApi();
  const { search } = useLocation();
  const repositories = useLoad(() => api.repositories(), [api]);
  // Where folders go on the server: null when it has no restore folder (then only live systems).
  const settings = useLoad(() => api.settings(), [api]);
  const restoreDir = settings.data?.restoreDir;
  const [chosenRepository, setRepository] = useState(search.get('repo') ?? '');
  const repository = chosenRepository || repositories.data?.[0]?.name || '';
  const snapshots = useLoad(async () => (repository ? api.snapshots(repository) : []), [api, repository]);
  const list = [...(snapshots.data ?? [])].sort((a, b) => b.time.localeCompare(a.time));
  const [what, setWhat] = useState<'snapshot' | 'time'>('snapshot');
  const [snapshot, setSnapshot] = useState(search.get('snapshot') ?? '');
  const [at, setAt] = useState('');
  const [where, setWhere] = useState<RestoreMode>('new');
  const [targetDir, setTargetDir] = useState(newFolderName);
  const [destination, setDestination] = useState('');
  const [quickDir, setQuickDir] = useState(newFolderName);
  const [quickProblem, setQuickProblem] = useState<string | undefined>(undefined);
  const [targetProblem, setTargetProblem] = useState<string | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  /** `folderProblem` hears why the server refused the folder (it holds files, say), shown at that field. */
  const send = async (request: RestoreRequest, folderProblem: (problem: string) => void): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      const result = await api.startRestore(request);
      navigate(`/runs/${encodeURIComponent(result.runId)}`);
    } catch (failure) {
      const refusal = restoreFolderRefusal(failure);
      if (refusal) folderProblem(refusal);
      else setError(failure);
      setBusy(false);
    }
  };

  const quickRestore = (): void => {
    const folderProblem = restoreFolderProblem(quickDir);
    setQuickProblem(folderProblem);
    if (!folderProblem) void send({ repository, snapshot: 'latest', targetDir: quickDir.trim() }, setQuickProblem);
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
      if (restoreDir === null) return setProblem(NO_FOLDER);
      const folderProblem = restoreFolderProblem(targetDir);
      setTargetProblem(folderProblem);
      if (folderProblem) return setProblem(undefined);
      request.targetDir = targetDir.trim();
    } else {
      if (!destination.trim()) return setProblem('Enter where to restore: the URL of the system the data came from.');
      request.to = destination.trim();
      request.mode = where;
    }
    setProblem(undefined);
    void send(request, setTargetProblem);
  };

  if (repositories.loading && !repositories.data) return <Page title="Restore"><Loading what="repositories" /></Page>;
  return (
    <Page title="Restore">
      <ErrorNote error={repositories.error} title="Cannot load the repositories" />
      <ErrorNote error={settings.error} title="Cannot load the server's restore folder" />
      <ErrorNote error={error} title="The restore did not start" />
      <section className="panel" aria-labelledby="quick-title">
        <h2 id="quick-title">Restore the latest snapshot</h2>
        <p id="quick-help">Restores the newest snapshot of <strong>{repository || 'the repository'}</strong>, all of it, into a new folder on the server: nothing that exists is touched.</p>
        <div className="field">
          <label htmlFor="quick-target">Into the new folder</label>
          <input
            id="quick-target" value={quickDir} onChange={(event) => { setQuickDir(event.target.value); setQuickProblem(undefined); }}
            aria-describedby={quickProblem ? 'quick-target-help quick-target-error' : 'quick-target-help'} aria-invalid={quickProblem ? true : undefined}
          />
          <FolderHelp id="quick-target-help" restoreDir={restoreDir} />
          {quickProblem ? <p id="quick-target-error" className="field-error" role="alert">{quickProblem}</p> : null}
        </div>
        <div className="actions">
          <button type="button" disabled={busy || !repository || restoreDir === null} aria-describedby="quick-help" onClick={quickRestore}>Restore latest with defaults</button>
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
              <input
                id="restore-target" value={targetDir} onChange={(event) => { setTargetDir(event.target.value); setTargetProblem(undefined); }}
                aria-describedby={targetProblem ? 'restore-target-help restore-target-error' : 'restore-target-help'} aria-invalid={targetProblem ? true : undefined}
              />
              <FolderHelp id="restore-target-help" restoreDir={restoreDir} />
              {targetProblem ? <p id="restore-target-error" className="field-error" role="alert">{targetProblem}</p> : null}
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

const NO_FOLDER = 'This server was started without a restore folder, so it cannot restore into a folder: restore into a live system, or ask an admin to give the server one ($CAIRN_RESTORE_DIR for cairn serve).';

/** A fresh folder name, so that two restores never meet. */
function newFolderName(): string {
  return restoreFolderName(new Date());
}

/** Where a folder name lands: inside the server's restore folder, which the server says. */
function FolderHelp(props: { id: string; restoreDir: string | null | undefined }) {
  if (props.restoreDir === null) return <p id={props.id} className="help">{NO_FOLDER}</p>;
  return (
    <p id={props.id} className="help">
      {props.restoreDir ? <>Inside <code>{props.restoreDir}</code> on the server</> : 'Inside the server\'s restore folder'}, such as <code>restore-2026-11-22</code> or <code>docs/today</code>: a new or empty folder (one that holds files is refused), and nothing is written outside it.
    </p>
  );
}
