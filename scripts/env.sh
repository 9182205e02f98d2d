# shellcheck shell=bash
# Sourced by the other scripts (never executed): paths, pinned tool versions, and an environment
# that keeps every tool's state inside the repo (.state/) or the tools dir.
# Cheap to source: no network, no installs (scripts/setup does those).

DGD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DGD_ROOT
export DGD_TOOLS_DIR="${DGD_TOOLS_DIR:-$HOME/.cache/discord-gateway-do/tools}"
export DGD_STATE_DIR="$DGD_ROOT/.state"

# Pinned versions. wasm-bindgen-cli's version is not here: it is read from Cargo.lock.
DGD_WORKER_BUILD_VERSION=0.8.7
DGD_NODE_VERSION=22.23.3   # npm package node-linux-<arch>@<this>, used when the system node is < 22.18
# 22.18: the e2e suite imports .ts files (type stripping on by default); wrangler 4 needs 22.12.
DGD_NODE_MIN=22.18.0

dgd_log() { printf '[%s] %s\n' "${DGD_SCRIPT:-dgd}" "$*" >&2; }
dgd_die() { dgd_log "error: $*"; exit 1; }

# version_ge A B: true when dotted version A >= B.
dgd_version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]; }

# The wasm-bindgen version locked in Cargo.lock (empty when there is no lock file / no entry).
dgd_wasm_bindgen_version() {
  [ -f "$DGD_ROOT/Cargo.lock" ] || return 0
  awk '/^\[\[package\]\]/ { name = "" }
       /^name = / { name = $3; gsub(/"/, "", name) }
       /^version = / && name == "wasm-bindgen" { v = $3; gsub(/"/, "", v); print v; exit }' \
    "$DGD_ROOT/Cargo.lock"
}

dgd_node_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) dgd_die "unsupported CPU $(uname -m)" ;;
  esac
}

export DGD_NODE_DIR="$DGD_TOOLS_DIR/node-$DGD_NODE_VERSION"
DGD_NODE_BIN_DIR="$DGD_NODE_DIR/node_modules/node-linux-$(dgd_node_arch)/bin"

# Use the system node when it is new enough, else the one scripts/setup installs.
dgd_system_node_ok() {
  local v=""
  if command -v node >/dev/null 2>&1; then v="$(node --version 2>/dev/null || true)"; fi
  [ -n "$v" ] && dgd_version_ge "${v#v}" "$DGD_NODE_MIN"
}

DGD_WASM_BINDGEN_VERSION="$(dgd_wasm_bindgen_version)"
export DGD_WASM_BINDGEN_VERSION
export DGD_WORKER_BUILD_DIR="$DGD_TOOLS_DIR/worker-build-$DGD_WORKER_BUILD_VERSION"
export DGD_WASM_BINDGEN_DIR="$DGD_TOOLS_DIR/wasm-bindgen-${DGD_WASM_BINDGEN_VERSION:-unknown}"

if [ -z "${DGD_ENV_SOURCED:-}" ]; then
  export DGD_ENV_SOURCED=1
  if [ -x "$DGD_NODE_BIN_DIR/node" ] && ! dgd_system_node_ok; then
    PATH="$DGD_NODE_BIN_DIR:$PATH"
  fi
  PATH="$DGD_ROOT/node_modules/.bin:$DGD_WORKER_BUILD_DIR/bin:$DGD_WASM_BINDGEN_DIR/bin:$PATH"
  export PATH
fi

# worker-build: use our wasm-bindgen (its own download comes from GitHub, unreachable) and the
# esbuild binary that wrangler brought (same version worker-build wants; saves its download).
export WASM_BINDGEN_BIN="$DGD_WASM_BINDGEN_DIR/bin/wasm-bindgen"
# wasm-opt: binaryen from npm (a devDependency pinned to the version worker-build expects); its
# own download comes from GitHub.
export WASM_OPT_BIN="$DGD_ROOT/node_modules/.bin/wasm-opt"
for _esb in "$DGD_ROOT"/node_modules/@esbuild/linux-*/bin/esbuild \
  "$DGD_ROOT"/node_modules/wrangler/node_modules/@esbuild/linux-*/bin/esbuild; do
  if [ -x "$_esb" ]; then export ESBUILD_BIN="$_esb"; break; fi
done
unset _esb

# Keep wrangler (and anything else XDG-aware) out of $HOME; no telemetry, no prompts.
export XDG_CONFIG_HOME="$DGD_STATE_DIR/xdg/config"
export XDG_CACHE_HOME="$DGD_STATE_DIR/xdg/cache"
export XDG_DATA_HOME="$DGD_STATE_DIR/xdg/data"
export WRANGLER_LOG_PATH="$DGD_STATE_DIR/wrangler-logs"
export WRANGLER_SEND_METRICS=false
export WRANGLER_SEND_ERROR_REPORTS=false
export CI="${CI:-true}"
export NO_UPDATE_NOTIFIER=1
export npm_config_update_notifier=false
export npm_config_fund=false
export npm_config_audit=false
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Miniflare/wrangler: do not fetch Request.cf from workers.cloudflare.com (offline, no warning).
export CLOUDFLARE_CF_FETCH_ENABLED=false
