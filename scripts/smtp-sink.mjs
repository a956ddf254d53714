// The SMTP server the notifier tests send to (started by scripts/services.d/smtp.sh): it accepts
// mail only after STARTTLS and a login, and writes each message whole (temp file, then rename)
// as one .eml file into the mail folder, where tests find it.
//   node scripts/smtp-sink.mjs PORT MAIL_DIR CERT KEY USER PASSWORD PID_FILE
import { randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { SMTPServer } from 'smtp-server';

const [port, mailDir, cert, key, user, password, pidFile] = process.argv.slice(2);
if (!pidFile) {
  console.error('usage: node smtp-sink.mjs PORT MAIL_DIR CERT KEY USER PASSWORD PID_FILE');
  process.exit(2);
}

const server = new SMTPServer({
  name: 'cairn-smtp-sink',
  key: readFileSync(key),
  cert: readFileSync(cert),
  authMethods: ['PLAIN', 'LOGIN'],
  // Logins only over TLS (smtp-server's default): a client that skips STARTTLS cannot send.
  allowInsecureAuth: false,
  size: 10 * 1024 * 1024,
  onAuth(auth, _session, callback) {
    if (auth.username === user && auth.password === password) callback(null, { user });
    else callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
  },
  onData(stream, _session, callback) {
    const name = `${Date.now()}-${randomBytes(4).toString('hex')}.eml`;
    const temp = join(mailDir, `.${name}.tmp`);
    pipeline(stream, createWriteStream(temp))
      .then(() => {
        renameSync(temp, join(mailDir, name));
        callback();
      })
      .catch((error) => {
        rmSync(temp, { force: true });
        callback(error);
      });
  },
});
server.on('error', (error) => console.error(`smtp-sink: ${error.message}`));
server.listen(Number(port), '127.0.0.1', () => writeFileSync(pidFile, String(process.pid)));
