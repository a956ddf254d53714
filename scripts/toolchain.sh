# Sourced by ./dev: puts a suitable Node.js and pnpm on PATH and installs the workspace.
# The machine's own node is used when it is new enough; otherwise Node 24 comes from the npm
# registry's node-linux-<arch> package, without root, cached under ~/.cache/cairn.
CAIRN_CACHE="${CAIRN_CACHE:-$HOME/.cache/cairn}"
CAIRN_NODE_VERSION=24.21.0
CAIRN_PNPM_VERSION=10.34.9
CAIRN_NODE_MIN=22.18.0

version_at_least() { # $1 >= $2 (dotted versions)
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

cairn_node() {
  local have=""
  have="$(node --version 2>/dev/null | sed 's/^v//')" || true
  if [ -n "$have" ] && version_at_least "$have" "$CAIRN_NODE_MIN"; then return 0; fi
  local arch
  case "$(uname -m)" in
    x86_64) arch=x64 ;; aarch64) arch=arm64 ;;
    *) echo "cairn: no Node.js $CAIRN_NODE_MIN+ on PATH and no prebuilt one for $(uname -m); install Node 24 and retry" >&2; exit 1 ;;
  esac
  local dir="$CAIRN_CACHE/node-$CAIRN_NODE_VERSION-$arch"
  local bin="$dir/node_modules/node-linux-$arch/bin"
  if [ ! -x "$bin/node" ]; then
    command -v npm >/dev/null || { echo "cairn: Node.js $CAIRN_NODE_MIN+ is needed and npm is missing to fetch it" >&2; exit 1; }
    echo "cairn: fetching Node.js $CAIRN_NODE_VERSION into $dir (node on PATH is ${have:-missing})" >&2
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    npm install --prefix "$dir.tmp" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
      "node-linux-$arch@$CAIRN_NODE_VERSION" >&2
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  export PATH="$bin:$PATH"
}

cairn_pnpm() {
  if pnpm --version 2>/dev/null | grep -qx "$CAIRN_PNPM_VERSION"; then return 0; fi
  local dir="$CAIRN_CACHE/pnpm-$CAIRN_PNPM_VERSION"
  if [ ! -f "$dir/node_modules/pnpm/bin/pnpm.cjs" ]; then
    echo "cairn: fetching pnpm $CAIRN_PNPM_VERSION into $dir" >&2
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    npm install --prefix "$dir.tmp" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
      "pnpm@$CAIRN_PNPM_VERSION" >&2
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  mkdir -p "$CAIRN_CACHE/bin"
  printf '#!/bin/sh\nexec node "%s" "$@"\n' "$dir/node_modules/pnpm/bin/pnpm.cjs" >"$CAIRN_CACHE/bin/pnpm"
  chmod +x "$CAIRN_CACHE/bin/pnpm"
  export PATH="$CAIRN_CACHE/bin:$PATH"
}

cairn_install() {
  cairn_node
  cairn_pnpm
  export npm_config_store_dir="$CAIRN_CACHE/pnpm-store"
  # Quick when nothing changed: pnpm checks the lockfile against node_modules itself.
  pnpm install --frozen-lockfile --prefer-offline --reporter=silent
}
