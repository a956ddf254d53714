import { useEffect, useRef, useState } from 'react';
import type { FormEvent } from 'react';
import { BACKUP_TYPES } from '../api.js';
import type { BackupType, Estimate, Job, TriggerRequest } from '../api.js';
import { ErrorNote, Loading, Page, useApi, useLoad } from '../components.js';
import { formatBytes, formatCount } from '../format.js';
import { navigate } from '../router.js';

const TYPE_LABELS: Record<BackupType, string> = { database: 'Database', user_data: 'User data', storage: 'Storage' };

/** Back up now: a job or a type, then its size estimate, then Start; the run's page follows. */
export function BackupScreen() {
  const api = useApi();
  const jobs = useLoad(() => api.jobs(), [api]);
  const [by, setBy] = useState<'job' | 'type'>('job');
  const [jobName, setJobName] = useState('');
  const [type, setType] = useState<BackupType>('user_data');
  const [databaseName, setDatabaseName] = useState('');
  const [storagePath, setStoragePath] = useState('');
  const [environment, setEnvironment] = useState('');
  const [description, setDescription] = useState('');
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [estimate, setEstimate] = useState<{ request: TriggerRequest; result?: Estimate; error?: unknown } | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [startError, setStartError] = useState<unknown>(undefined);
  const estimateHeading = useRef<HTMLHeadingElement>(null);
  const shown = estimate !== undefined;
  // The Estimate button goes away when the estimate comes: the keyboard focus follows to the estimate.
  useEffect(() => {
    if (shown) estimateHeading.current?.focus();
  }, [shown]);

  const list = jobs.data ?? [];
  const job: Job | undefined = by === 'job' ? list.find((item) => item.name === (jobName || list[0]?.name)) : list.find((item) => item.type === type);
  const environments = by === 'job' ? (job?.environments ?? []) : [...new Set(list.flatMap((item) => item.environments))];

  const request = (): TriggerRequest | string => {
    const common = { ...(environment ? { environment } : {}), ...(description.trim() ? { description: description.trim() } : {}) };
    if (by === 'job') {
      if (!job) return 'Choose a job.';
      return { job: job.name, ...common };
    }
    if (type === 'database' && !databaseName.trim()) return 'Enter the name of the database to back up.';
    if (type === 'storage' && !storagePath.trim()) return 'Enter the storage path to back up.';
    return {
      type, ...common,
      ...(type === 'database' ? { database_name: databaseName.trim() } : {}),
      ...(type === 'storage' ? { storage_path: storagePath.trim() } : {}),
    };
  };

  const review = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    const built = request();
    if (typeof built === 'string') {
      setProblem(built);
      return;
    }
    setProblem(undefined);
    setStartError(undefined);
    setBusy(true);
    try {
      const result = job ? await api.estimate(job.name, environment || undefined) : undefined;
      setEstimate({ request: built, ...(result ? { result } : {}) });
    } catch (error) {
      setEstimate({ request: built, error });
    } finally {
      setBusy(false);
    }
  };

  const start = async (): Promise<void> => {
    if (!estimate) return;
    setBusy(true);
    setStartError(undefined);
    try {
      const result = await api.triggerBackup(estimate.request);
      navigate(`/runs/${encodeURIComponent(result.runId)}`);
    } catch (error) {
      setStartError(error);
      setBusy(false);
    }
  };

  const changed = (): void => setEstimate(undefined);

  if (jobs.loading && !jobs.data) return <Page title="Back up now"><Loading what="jobs" /></Page>;
  return (
    <Page title="Back up now">
      <ErrorNote error={jobs.error} title="Cannot load the jobs" />
      <form onSubmit={review} noValidate className="stack">
        <fieldset>
          <legend>What to back up</legend>
          <div className="choices">
            <label><input type="radio" name="by" value="job" checked={by === 'job'} onChange={() => { setBy('job'); changed(); }} /> A configured job</label>
            <label><input type="radio" name="by" value="type" checked={by === 'type'} onChange={() => { setBy('type'); changed(); }} /> A kind of data</label>
          </div>
          {by === 'job' ? (
            <div className="field">
              <label htmlFor="job">Job</label>
              <select id="job" value={job?.name ?? ''} onChange={(event) => { setJobName(event.target.value); setEnvironment(''); changed(); }} aria-describedby="job-help">
                {list.length === 0 ? <option value="">No jobs configured</option> : null}
                {list.map((item) => <option key={item.name} value={item.name}>{item.name}{item.type ? ` (${TYPE_LABELS[item.type as BackupType] ?? item.type})` : ''}</option>)}
              </select>
              <p id="job-help" className="help">{job?.description ?? (job ? `Backs up into ${job.repository ?? 'its repository'}.` : '')}</p>
            </div>
          ) : (
            <>
              <div className="field">
                <label htmlFor="type">Kind of data</label>
                <select id="type" value={type} onChange={(event) => { setType(event.target.value as BackupType); changed(); }}>
                  {BACKUP_TYPES.map((item) => <option key={item} value={item}>{TYPE_LABELS[item]}</option>)}
                </select>
              </div>
              {type === 'database' ? (
                <div className="field">
                  <label htmlFor="database-name">Database name <span className="required">(required)</span></label>
                  <input id="database-name" required value={databaseName} onChange={(event) => { setDatabaseName(event.target.value); changed(); }} />
                </div>
              ) : null}
              {type === 'storage' ? (
                <div className="field">
                  <label htmlFor="storage-path">Storage path <span className="required">(required)</span></label>
                  <input id="storage-path" required value={storagePath} placeholder="bucket/prefix" onChange={(event) => { setStoragePath(event.target.value); changed(); }} />
                </div>
              ) : null}
            </>
          )}
        </fieldset>
        <div className="field">
          <label htmlFor="environment">Environment</label>
          <select id="environment" value={environment} onChange={(event) => { setEnvironment(event.target.value); changed(); }}>
            <option value="">Default</option>
            {environments.map((item) => <option key={item} value={item}>{item}</option>)}
          </select>
        </div>
        <div className="field">
          <label htmlFor="description">Description <span className="muted">(optional)</span></label>
          <input id="description" value={description} maxLength={200} placeholder="Before the upgrade" onChange={(event) => { setDescription(event.target.value); changed(); }} />
        </div>
        {problem ? <p className="field-error" role="alert">{problem}</p> : null}
        {!estimate ? <div><button type="submit" disabled={busy}>{busy ? 'Estimating…' : 'Estimate size'}</button></div> : null}
      </form>
      {estimate ? (
        <section aria-labelledby="estimate-title" className="panel">
          <h2 id="estimate-title" ref={estimateHeading} tabIndex={-1}>Size estimate</h2>
          {estimate.result ? (
            <>
              <dl className="figures">
                <div><dt>Files</dt><dd>{formatCount(estimate.result.estimate.files)}</dd></div>
                <div><dt>Total size</dt><dd>{formatBytes(estimate.result.estimate.bytes)}</dd></div>
                <div><dt>New or changed</dt><dd>{formatCount(estimate.result.estimate.filesToRead)} files, {formatBytes(estimate.result.estimate.bytesToRead)}</dd></div>
                {estimate.result.estimate.warnings > 0 ? <div><dt>Unreadable entries</dt><dd>{formatCount(estimate.result.estimate.warnings)}</dd></div> : null}
              </dl>
              {estimate.result.overLimit ? (
                <div className="note note-error" role="alert"><span aria-hidden="true">⚠ </span>Over the job's size limit of {formatBytes(estimate.result.sizeLimit)}: the run will be refused.</div>
              ) : null}
            </>
          ) : estimate.error ? (
            <ErrorNote error={estimate.error} title="No estimate" />
          ) : (
            <p>No estimate is available for this kind of data.</p>
          )}
          <ErrorNote error={startError} title="The backup did not start" />
          <div className="actions">
            <button type="button" onClick={start} disabled={busy}>{busy ? 'Starting…' : 'Start backup'}</button>
            <button type="button" className="secondary" onClick={changed} disabled={busy}>Change</button>
          </div>
        </section>
      ) : null}
    </Page>
  );
}
