import { useState } from 'react';
import { ErrorNote, Loading, Page, TableBox, useApi, useLoad } from '../components.js';
import { formatTime } from '../format.js';

/** Schedules with their next run; pause or resume each, or all at once. */
export function SchedulesScreen() {
  const api = useApi();
  const schedules = useLoad(() => api.schedules(), [api], { pollMs: 30_000 });
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [said, setSaid] = useState('');

  // Buttons are never disabled while a change is under way (a disabled button drops the keyboard
  // focus); a second press is ignored instead.
  const set = async (paused: boolean, name?: string): Promise<void> => {
    if (busy !== undefined) return;
    setBusy(name ?? '*');
    setError(undefined);
    try {
      await api.setPaused(paused, name);
      setSaid(`${name === undefined ? 'All schedules' : `Schedule ${name}`} ${paused ? 'paused' : 'resumed'}.`);
      schedules.reload();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(undefined);
    }
  };

  const list = schedules.data ?? [];
  return (
    <Page
      title="Schedules"
      actions={list.length > 0 ? (
        <>
          <button type="button" className="secondary" onClick={() => set(true)} aria-disabled={busy !== undefined}>Pause all</button>
          <button type="button" className="secondary" onClick={() => set(false)} aria-disabled={busy !== undefined}>Resume all</button>
        </>
      ) : null}
    >
      <ErrorNote error={schedules.error} title="Cannot load the schedules" />
      <ErrorNote error={error} title="Not changed" />
      <p role="status" className="said">{said}</p>
      {schedules.loading && !schedules.data ? <Loading what="schedules" /> : null}
      {schedules.data && list.length === 0 ? <p>No job has a schedule. Give a job a <code>schedule</code> in the configuration to run it by itself.</p> : null}
      {list.length > 0 ? (
        <TableBox label="Schedules">
          <table>
            <caption className="sr-only">Schedules</caption>
            <thead>
              <tr><th scope="col">Schedule</th><th scope="col">When</th><th scope="col">Next run</th><th scope="col">Last slot</th><th scope="col">State</th><th scope="col">Action</th></tr>
            </thead>
            <tbody>
              {list.map((schedule) => (
                <tr key={schedule.name}>
                  <th scope="row">{schedule.name}</th>
                  <td><code>{schedule.cron ?? '—'}</code>{schedule.timezone ? ` (${schedule.timezone})` : ''}</td>
                  <td>{schedule.paused ? <span className="muted">paused</span> : formatTime(schedule.next)}</td>
                  <td>{formatTime(schedule.last)}</td>
                  <td>{schedule.paused
                    ? <span className="state state-paused"><span aria-hidden="true">⏸</span> Paused</span>
                    : <span className="state state-active"><span aria-hidden="true">▶</span> Active</span>}</td>
                  <td>
                    <button
                      type="button" className="secondary" aria-disabled={busy !== undefined}
                      aria-label={`${schedule.paused ? 'Resume' : 'Pause'} schedule ${schedule.name}`}
                      onClick={() => set(!schedule.paused, schedule.name)}
                    >{schedule.paused ? 'Resume' : 'Pause'}</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      ) : null}
    </Page>
  );
}
