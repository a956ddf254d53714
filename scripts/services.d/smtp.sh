# An SMTP server for the notifier tests on 127.0.0.1:2525: the `smtp-server` npm package (a root
# devDependency) run by scripts/smtp-sink.mjs, with STARTTLS on the FTP service's test certificate
# (so it starts after ftp), a login required, and every message kept as a .eml file.
SMTP_PORT="${CAIRN_SMTP_PORT:-2525}"
SMTP_DIR="$RUN_DIR/smtp"
SMTP_USER=cairn-smtp
SMTP_PASSWORD=cairn-smtp-pass

smtp_install() {
  mkdir -p "$SMTP_DIR/mail"
  [ -f "$RUN_DIR/ftp/cert.pem" ] || die "smtp needs the test certificate from the ftp service: scripts/services up ftp smtp"
  [ -d "$SCRIPTS/../node_modules/smtp-server" ] || die "smtp-server is not installed: run pnpm install (./dev install) first"
}

smtp_start() {
  rm -f "$SMTP_DIR/smtp.pid"
  setsid node "$SCRIPTS/smtp-sink.mjs" "$SMTP_PORT" "$SMTP_DIR/mail" "$RUN_DIR/ftp/cert.pem" "$RUN_DIR/ftp/key.pem" \
    "$SMTP_USER" "$SMTP_PASSWORD" "$SMTP_DIR/smtp.pid" >"$SMTP_DIR/smtp.log" 2>&1 </dev/null &
}

smtp_ready() { pid_alive "$SMTP_DIR/smtp.pid" && (exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT") 2>/dev/null; }

smtp_stop() { stop_pid "$SMTP_DIR/smtp.pid"; }

smtp_env() {
  cat <<ENV
export CAIRN_TEST_SMTP_HOST=127.0.0.1
export CAIRN_TEST_SMTP_PORT=$SMTP_PORT
export CAIRN_TEST_SMTP_USER=$SMTP_USER
export CAIRN_TEST_SMTP_PASSWORD=$SMTP_PASSWORD
export CAIRN_TEST_SMTP_MAILDIR=$SMTP_DIR/mail
ENV
}
