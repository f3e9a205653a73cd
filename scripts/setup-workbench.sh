#!/usr/bin/env bash
# Installs what the real-workbench tools need, idempotently: Debian packages (only the missing ones),
# the pinned code-server from tools/workbench (npm ci, skipped while its lockfile is unchanged).
# Used by .ci/run, `npm start` and `node test/e2e/run.mjs`. Facts behind each step: ../shared/ENVIRONMENT.md.
#
#   scripts/setup-workbench.sh            install what is missing
#   scripts/setup-workbench.sh --check    exit 0 when everything is in place, 1 otherwise; installs nothing
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/tools/workbench"
STAMP="$TOOLS/node_modules/.zeta-installed"
CODE_SERVER="$TOOLS/node_modules/.bin/code-server"
CHECK_ONLY=0
[[ "${1:-}" == "--check" ]] && CHECK_ONLY=1

t0=$SECONDS
log() { printf '[setup-workbench %3ds] %s\n' "$((SECONDS - t0))" "$*"; }

# chromium: the UI tests' browser. ripgrep: seeds @vscode/ripgrep (below). libkrb5-dev,
# build-essential, python3: code-server's native modules compile with node-gyp. fonts-liberation:
# legible screenshots. xz-utils/ca-certificates: npm and tar basics on minimal images.
PACKAGES=(chromium ripgrep libkrb5-dev build-essential python3 pkg-config fonts-liberation ca-certificates xz-utils)

missing=()
for p in "${PACKAGES[@]}"; do
    if [[ "$p" == python3 ]] && command -v python3 >/dev/null 2>&1; then continue; fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# The stamp holds the lockfile's hash and the Node major version: native modules are built for one ABI.
want_stamp="$(sha256sum "$TOOLS/package-lock.json" | cut -d' ' -f1) node$(node -p 'process.versions.modules')"
have_stamp="$(cat "$STAMP" 2>/dev/null || true)"
tools_ok=0
[[ -x "$CODE_SERVER" && "$have_stamp" == "$want_stamp" ]] && tools_ok=1

if [[ $CHECK_ONLY == 1 ]]; then
    [[ ${#missing[@]} -eq 0 && $tools_ok == 1 ]] && exit 0
    echo "workbench tools incomplete (missing Debian packages: ${missing[*]:-none}; code-server installed: $tools_ok); run scripts/setup-workbench.sh" >&2
    exit 1
fi

if [[ ${#missing[@]} -gt 0 ]]; then
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    log "apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    log "Debian packages installed"
else
    log "Debian packages already present"
fi

if [[ $tools_ok == 1 ]]; then
    log "code-server $("$CODE_SERVER" --version 2>/dev/null | head -1 | cut -d' ' -f1) already installed (lockfile unchanged)"
    exit 0
fi

# @vscode/ripgrep (a dependency of the bundled VS Code) downloads a binary from GitHub at install
# time; it finds this "cached download" first and uses it. Debian's rg stands in for the musl build.
RG_CACHE="${TMPDIR:-/tmp}/vscode-ripgrep-cache-1.15.11"
RG_TGZ="$RG_CACHE/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
if [[ ! -s "$RG_TGZ" ]]; then
    mkdir -p "$RG_CACHE"
    tmp="$(mktemp -d)"
    cp "$(command -v rg)" "$tmp/rg"
    tar -C "$tmp" -czf "$RG_TGZ" rg
    rm -rf "$tmp"
    log "seeded $RG_TGZ"
fi

# As root: run install scripts (node-gyp builds of kerberos, node-pty, ...) without prompts, against the
# local Node headers; npm 11 would otherwise block the nested install scripts of the bundled VS Code.
export npm_config_unsafe_perm=true
export npm_config_yes=true
export npm_config_nodedir=/usr
export npm_config_dangerously_allow_all_scripts=true
export npm_config_fund=false
export npm_config_audit=false
export npm_config_update_notifier=false
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

log "npm ci in tools/workbench (code-server 4.100.3; compiles native modules)"
rm -f "$STAMP"
(cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error)
"$CODE_SERVER" --version >/dev/null
echo "$want_stamp" >"$STAMP"
log "done: $("$CODE_SERVER" --version | head -1)"
