# Label Studio 1.23.2 (PyPI) in a cached virtual environment, headless on 127.0.0.1:8080, with a
# known admin and legacy API token. Started with a clean environment (`env -i`): it reads bare
# variables such as PORT, HOST or DEBUG as its own settings. Outbound calls (Sentry, analytics,
# version check) are switched off.
LS_VERSION=1.23.2
LS_PORT="${CAIRN_LABEL_STUDIO_PORT:-8080}"
LS_DIR="$RUN_DIR/label-studio"
LS_VENV="$CAIRN_CACHE/label-studio-$LS_VERSION"
LS_EMAIL=admin@cairn.test
LS_PASSWORD=cairn-ls-pass
LS_TOKEN=cairn0label0studio0test0token0000000001

label_studio_install() {
  mkdir -p "$LS_DIR"
  # A venv cannot be moved once built (its scripts name their interpreter by absolute path), so it
  # is built in place and a stamp file marks it complete: a killed install is redone from scratch.
  [ -f "$LS_VENV/.complete" ] && return 0
  command -v python3 >/dev/null || die "python3 is needed for Label Studio"
  note "installing label-studio==$LS_VERSION into $LS_VENV (a few minutes, once)"
  rm -rf "$LS_VENV"
  python3 -m venv "$LS_VENV" && "$LS_VENV/bin/pip" install -q "label-studio==$LS_VERSION" >"$LS_DIR/pip.log" 2>&1 \
    || { rm -rf "$LS_VENV"; die "pip install label-studio==$LS_VERSION failed; see $LS_DIR/pip.log"; }
  touch "$LS_VENV/.complete"
}

label_studio_start() {
  port_open "$LS_PORT" && die "port $LS_PORT is taken by another program; Label Studio would silently move to another port"
  env -i PATH="$LS_VENV/bin:/usr/bin:/bin" HOME="$LS_DIR/home" SENTRY_DSN= FRONTEND_SENTRY_DSN= \
    COLLECT_ANALYTICS=false LATEST_VERSION_CHECK=false LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true \
    setsid "$LS_VENV/bin/label-studio" start --no-browser --internal-host 127.0.0.1 --port "$LS_PORT" \
      --data-dir "$LS_DIR/data" --username "$LS_EMAIL" --password "$LS_PASSWORD" \
      --user-token "$LS_TOKEN" --enable-legacy-api-token >"$LS_DIR/label-studio.log" 2>&1 </dev/null &
  echo $! >"$LS_DIR/label-studio.pid"
  # The first start runs the database migrations: allow minutes.
  SERVICE_START_SECONDS=600 wait_until label-studio label_studio_ready
}

label_studio_ready() {
  pid_alive "$LS_DIR/label-studio.pid" \
    && curl -fsS -o /dev/null -H "Authorization: Token $LS_TOKEN" "http://127.0.0.1:$LS_PORT/api/projects"
}

label_studio_stop() { stop_pid "$LS_DIR/label-studio.pid"; }

label_studio_env() {
  cat <<ENV
export CAIRN_TEST_LABEL_STUDIO_URL=http://127.0.0.1:$LS_PORT
export CAIRN_TEST_LABEL_STUDIO_TOKEN=$LS_TOKEN
export CAIRN_TEST_LABEL_STUDIO_EMAIL=$LS_EMAIL
ENV
}
