# Helpers shared by the service files.
note() { echo "services: $*" >&2; }
die() { echo "services: $*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; return; fi
  command -v sudo >/dev/null || die "root is needed for: $* (no sudo here)"
  sudo -n "$@"
}

# Installs the Debian packages that are not installed yet, in one apt-get call.
apt_install() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  note "installing ${missing[*]} from Debian"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >"$RUN_DIR/apt.log" 2>&1; then
    as_root apt-get update >>"$RUN_DIR/apt.log" 2>&1 || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$RUN_DIR/apt.log" 2>&1 \
      || die "apt-get install ${missing[*]} failed; see $RUN_DIR/apt.log"
  fi
}

# Creates a local user with a password, once.
ensure_user() { # name password shell
  id -u "$1" >/dev/null 2>&1 || as_root useradd --create-home --shell "$3" "$1"
  echo "$1:$2" | as_root chpasswd
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Stops the process in a pid file and waits for it to go.
stop_pid() {
  local pidfile="$1" pid
  pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

# True when something accepts TCP connections on 127.0.0.1:port.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Reads the first line a TCP server sends (a banner) within two seconds.
banner() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; head -n1 <&3" 2>/dev/null | tr -d '\r'
}

# Polls a readiness check for up to ${SERVICE_START_SECONDS:-120} seconds.
wait_until() { # name check
  local deadline=$((SECONDS + ${SERVICE_START_SECONDS:-120}))
  until "$2" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || die "$1 did not become ready in time; see its log under $RUN_DIR/$1"
    sleep 0.3
  done
}

# A tmpfs of a few MiB, for "the server's disk is full" tests.
ensure_small_disk() { # dir size
  mkdir -p "$1"
  mountpoint -q "$1" || as_root mount -t tmpfs -o "size=$2,mode=0755" tmpfs "$1" \
    || die "cannot mount a small tmpfs at $1 (needed for the disk-full tests)"
}
