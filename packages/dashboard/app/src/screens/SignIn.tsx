import { useEffect, useRef, useState } from 'react';
import type { FormEvent } from 'react';
import { screenChanged } from '../router.js';

/** Sign in with a token: `cairn serve` prints one (`token: …`), and an admin can sign others. */
export function SignIn(props: { onSignIn: (token: string) => void; reason?: string | undefined }) {
  const [token, setToken] = useState('');
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = 'Sign in · Cairn';
    if (screenChanged()) heading.current?.focus();
  }, []);
  const submit = (event: FormEvent): void => {
    event.preventDefault();
    const value = token.trim().replace(/^Bearer\s+/i, '');
    if (!value) {
      setProblem('Paste a token first.');
      return;
    }
    props.onSignIn(value);
  };
  return (
    <section aria-labelledby="sign-in-title">
      <h1 id="sign-in-title" ref={heading} tabIndex={-1}>Sign in</h1>
      {props.reason ? <div className="note note-error" role="alert"><span aria-hidden="true">⚠ </span>{props.reason}</div> : null}
      <p>
        Paste the access token you were given: <code>cairn serve</code> prints one on the line starting <code>token:</code>.
        A link ending in <code>?token=…</code> signs you in directly.
      </p>
      <form onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor="token">Access token</label>
          <textarea
            id="token" name="token" rows={4} value={token} autoComplete="off" spellCheck={false}
            aria-describedby="token-help" aria-invalid={problem ? true : undefined}
            onChange={(event) => { setToken(event.target.value); setProblem(undefined); }}
          />
          <p id="token-help" className="help">Kept in this browser tab only, until you sign out or close the tab.</p>
          {problem ? <p className="field-error" role="alert">{problem}</p> : null}
        </div>
        <button type="submit">Sign in</button>
      </form>
    </section>
  );
}
