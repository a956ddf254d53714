import { useCallback, useEffect, useMemo, useState } from 'react';
import { ApiClient } from './api.js';
import type { ApiError, Me } from './api.js';
import { storedToken, storeToken, takeTokenFromUrl } from './auth.js';
import { ApiContext } from './components.js';
import { Link, markScreenChange, match, useLocation } from './router.js';
import { BackupScreen } from './screens/Backup.js';
import { HistoryScreen } from './screens/History.js';
import { RestoreScreen } from './screens/Restore.js';
import { RunScreen } from './screens/Run.js';
import { RunsScreen } from './screens/Runs.js';
import { SchedulesScreen } from './screens/Schedules.js';
import { SignIn } from './screens/SignIn.js';
import { DiffScreen, SnapshotsScreen, TreeScreen } from './screens/Snapshots.js';

const NAV = [
  { to: '/runs', label: 'Runs' },
  { to: '/backup', label: 'Back up' },
  { to: '/schedules', label: 'Schedules' },
  { to: '/history', label: 'History' },
  { to: '/snapshots', label: 'Snapshots' },
  { to: '/restore', label: 'Restore' },
];

export function App() {
  const [token, setToken] = useState<string | undefined>(() => {
    const fromUrl = takeTokenFromUrl();
    if (fromUrl) storeToken(fromUrl);
    return fromUrl ?? storedToken();
  });
  const [me, setMe] = useState<Me | undefined>(undefined);
  const [signOutReason, setSignOutReason] = useState<string | undefined>(undefined);

  const signOut = useCallback((reason?: string) => {
    markScreenChange();
    storeToken(undefined);
    setToken(undefined);
    setMe(undefined);
    setSignOutReason(reason);
  }, []);

  const api = useMemo(() => (token ? new ApiClient({
    token,
    onUnauthorized: (error: ApiError) => signOut(`You were signed out: ${error.message}`),
  }) : undefined), [token, signOut]);

  useEffect(() => {
    if (!api) return;
    api.me().then(setMe, () => undefined); // a 401 signs out through onUnauthorized; other failures show on the screens
  }, [api]);

  const signIn = (value: string): void => {
    markScreenChange();
    storeToken(value);
    setSignOutReason(undefined);
    setToken(value);
  };

  if (!api) {
    return (
      <>
        <Header />
        <main id="main" className="main-narrow">
          <SignIn onSignIn={signIn} reason={signOutReason} />
        </main>
      </>
    );
  }
  return (
    <ApiContext.Provider value={api}>
      <Header me={me} onSignOut={() => signOut(undefined)} />
      <main id="main"><Routes /></main>
    </ApiContext.Provider>
  );
}

function Header(props: { me?: Me | undefined; onSignOut?: () => void }) {
  const location = useLocation();
  return (
    <header className="top">
      <a className="skip" href="#main">Skip to content</a>
      <div className="brand"><span aria-hidden="true">◭</span> Cairn</div>
      {props.onSignOut ? (
        <>
          <nav aria-label="Main">
            <ul>
              {NAV.map((item) => {
                const here = location.path === item.to || location.path.startsWith(`${item.to}/`) || (item.to === '/runs' && location.path === '/');
                return <li key={item.to}><Link to={item.to} aria-current={here ? 'page' : undefined}>{item.label}</Link></li>;
              })}
            </ul>
          </nav>
          <div className="who">
            {props.me ? <span>Signed in as <strong>{props.me.subject}</strong> ({props.me.roles.join(', ') || 'no roles'})</span> : null}
            <button type="button" className="secondary" onClick={props.onSignOut}>Sign out</button>
          </div>
        </>
      ) : null}
    </header>
  );
}

function Routes() {
  const { path } = useLocation();
  let params: Record<string, string> | undefined;
  if (path === '/' || path === '/runs') return <RunsScreen />;
  if ((params = match('/runs/:id', path))) return <RunScreen id={params.id!} />;
  if (path === '/backup') return <BackupScreen />;
  if (path === '/schedules') return <SchedulesScreen />;
  if (path === '/history') return <HistoryScreen />;
  if (path === '/snapshots') return <SnapshotsScreen />;
  if ((params = match('/snapshots/:repo/diff', path))) return <DiffScreen repository={params.repo!} />;
  if ((params = match('/snapshots/:repo/:id', path))) return <TreeScreen repository={params.repo!} snapshot={params.id!} />;
  if (path === '/restore') return <RestoreScreen />;
  return (
    <>
      <h1>Page not found</h1>
      <p>There is nothing at <code>{path}</code>. <Link to="/runs">Go to the runs</Link>.</p>
    </>
  );
}
