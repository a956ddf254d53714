/**
 * Removes credentials from a URL or any text that may contain one, before it reaches a log line
 * or an error message: `sftp://ann:s3cret@host/x` → `sftp://ann:***@host/x`, `?password=…` → `?password=***`.
 * A password is taken to run to the next `@`, even across a `/`: people paste secret keys
 * unencoded, and hiding too much of a log line is better than leaking a credential.
 */
export function redact(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^/@\s:]*):[^@\s]*@/gi, '$1:***@')
    .replace(/([?&;](?:password|passwd|pass|pwd|secret|token|key|secret[-_]?access[-_]?key|access[-_]?key|signature|sig|auth)=)[^&#;\s]*/gi, '$1***');
}
