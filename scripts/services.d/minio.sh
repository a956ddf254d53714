# MinIO (community edition, built from source with the machine's Go) on 127.0.0.1:9000, its console
# pinned to 127.0.0.1:9001; and a second, "full" instance on 127.0.0.1:9010 whose data lives on a
# 32 MiB tmpfs, so large writes get the real XMinioStorageFull (HTTP 507) answer. The pinned version is the last commit of the archived repository:
# the Go module proxy serves only that one (the RELEASE.2025-10-15 pseudo-version answers 403), and
# its go.mod has no replace directives, so `go install` works.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_PORT="${CAIRN_MINIO_PORT:-9000}"
MINIO_DIR="$RUN_DIR/minio"
MINIO_BIN="$CAIRN_CACHE/go-bin/minio-$MINIO_VERSION"
MINIO_USER=cairn-minio
MINIO_SECRET=cairn-minio-secret

minio_install() {
  [ -x "$MINIO_BIN" ] && return 0
  command -v go >/dev/null || die "Go is needed to build MinIO (go install github.com/minio/minio@$MINIO_VERSION)"
  note "building MinIO $MINIO_VERSION with $(go version | cut -d' ' -f3) (several minutes, once)"
  mkdir -p "$MINIO_DIR" "$CAIRN_CACHE/go-bin/tmp"
  GOBIN="$CAIRN_CACHE/go-bin/tmp" go install "github.com/minio/minio@$MINIO_VERSION" >"$MINIO_DIR/build.log" 2>&1 \
    || die "building MinIO failed; see $MINIO_DIR/build.log"
  mv "$CAIRN_CACHE/go-bin/tmp/minio" "$MINIO_BIN"
}

minio_start() {
  mkdir -p "$MINIO_DIR/data"
  ensure_small_disk "$MINIO_DIR/small" 32m
  pid_alive "$MINIO_DIR/minio.pid" || minio_run "$MINIO_DIR/data" "$MINIO_PORT" minio
  pid_alive "$MINIO_DIR/minio-small.pid" || minio_run "$MINIO_DIR/small/data" "$((MINIO_PORT + 10))" minio-small
}

minio_run() { # data-dir port name
  MINIO_ROOT_USER=$MINIO_USER MINIO_ROOT_PASSWORD=$MINIO_SECRET MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=1 \
    setsid "$MINIO_BIN" server "$1" --address "127.0.0.1:$2" --console-address "127.0.0.1:$(($2 + 1))" --quiet \
    >"$MINIO_DIR/$3.log" 2>&1 </dev/null &
  echo $! >"$MINIO_DIR/$3.pid"
}

minio_ready() {
  pid_alive "$MINIO_DIR/minio.pid" && pid_alive "$MINIO_DIR/minio-small.pid" \
    && curl -fsS -o /dev/null "http://127.0.0.1:$MINIO_PORT/minio/health/ready" \
    && curl -fsS -o /dev/null "http://127.0.0.1:$((MINIO_PORT + 10))/minio/health/ready"
}

minio_stop() { stop_pid "$MINIO_DIR/minio.pid"; stop_pid "$MINIO_DIR/minio-small.pid"; }

minio_env() {
  cat <<ENV
export CAIRN_TEST_S3_ENDPOINT=http://127.0.0.1:$MINIO_PORT
export CAIRN_TEST_S3_ACCESS_KEY=$MINIO_USER
export CAIRN_TEST_S3_SECRET_KEY=$MINIO_SECRET
export CAIRN_TEST_S3_REGION=us-east-1
export CAIRN_TEST_S3_FULL_ENDPOINT=http://127.0.0.1:$((MINIO_PORT + 10))
ENV
}
