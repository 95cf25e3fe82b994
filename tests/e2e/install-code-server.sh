#!/usr/bin/env bash
# Installs code-server (a real VS Code in the browser) for HAPA's end-to-end tests, offline:
# only the npm and Debian registries are reachable, so code-server's own postinstall (which
# downloads ripgrep from GitHub) cannot run and its steps are replayed here by hand.
#
# Usage: tests/e2e/install-code-server.sh [TOOLS_DIR]
#   TOOLS_DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/hapa/code-server.
# On success the last line of stdout is the path of the code-server executable.
#
# Idempotent: a finished install carries a stamp and a rerun returns at once. The install is
# built in a sibling temp dir and renamed into place only when complete, so an interrupted run
# leaves nothing that looks installed; the next run throws the remains away and starts over.
set -euo pipefail

readonly CODE_SERVER_VERSION=4.100.3
readonly TOOLS_DIR="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/hapa/code-server}"
readonly STAMP_NAME=".hapa-installed-code-server-${CODE_SERVER_VERSION}"
readonly BIN_REL=node_modules/.bin/code-server
# Native modules of VS Code's server that must be compiled for this machine's Node
# (node-pty is rebuilt on its own, see below).
readonly VSCODE_NATIVE=(@parcel/watcher @vscode/spdlog kerberos native-watchdog @vscode/deviceid)
readonly APT_PACKAGES=(libkrb5-dev pkg-config ripgrep chromium)

log() { printf '[install-code-server] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

installed() {
    [[ -f "$TOOLS_DIR/$STAMP_NAME" && -x "$TOOLS_DIR/$BIN_REL" ]]
}

if installed; then
    log "code-server $CODE_SERVER_VERSION already installed in $TOOLS_DIR"
    echo "$TOOLS_DIR/$BIN_REL"
    exit 0
fi

command -v node >/dev/null || die "node is not on PATH (Node 20 is required)"
command -v npm >/dev/null || die "npm is not on PATH"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
# code-server 4.100.x is built for Node 20; its native modules are compiled against the running Node.
[[ "$node_major" == 20 ]] || log "warning: Node $node_major found; code-server $CODE_SERVER_VERSION expects Node 20"

# --- system packages ---------------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || die "missing system packages (${missing[*]}) and no apt-get to install them"
    sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || die "missing system packages (${missing[*]}); run as root or install them first"
        sudo=(sudo)
    fi
    log "installing system packages: ${missing[*]}"
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
else
    log "system packages present: ${APT_PACKAGES[*]}"
fi
RG="$(command -v rg)" || die "ripgrep (rg) is not on PATH after installing it"

# --- one installer at a time -------------------------------------------------------------------
parent="$(dirname "$TOOLS_DIR")"
mkdir -p "$parent"
if command -v flock >/dev/null; then
    exec 9>"$TOOLS_DIR.lock"
    log "taking the install lock $TOOLS_DIR.lock"
    flock 9
    # Another run may have finished the install while this one waited.
    if installed; then
        log "code-server $CODE_SERVER_VERSION already installed in $TOOLS_DIR"
        echo "$TOOLS_DIR/$BIN_REL"
        exit 0
    fi
fi

# Remains of interrupted runs, or an install of another version.
shopt -s nullglob
for stale in "$TOOLS_DIR".partial.*; do
    log "removing the remains of an interrupted install: $stale"
    rm -rf "$stale"
done
shopt -u nullglob
if [[ -e "$TOOLS_DIR" ]]; then
    # Only ever delete what this script made: a mistyped TOOLS_DIR must not wipe a real folder.
    grep -qs '"name": "hapa-e2e-code-server"' "$TOOLS_DIR/package.json" \
        || die "$TOOLS_DIR exists but is not an install made by this script; remove it or pass another dir"
    log "removing an outdated install: $TOOLS_DIR"
    rm -rf "$TOOLS_DIR"
fi

work="$TOOLS_DIR.partial.$$"
# Left in place on failure for inspection; the next run removes it.
trap '[[ -z "${work:-}" ]] || log "failed; the partial install is left in $work"' EXIT
mkdir -p "$work"
# Our own package.json stops npm from walking up to some parent project's package.json.
printf '{ "name": "hapa-e2e-code-server", "private": true }\n' >"$work/package.json"

started=$SECONDS
npm_flags=(--no-audit --no-fund --loglevel=warn)

log "npm install --ignore-scripts code-server@$CODE_SERVER_VERSION (in $work)"
(cd "$work" && npm install "${npm_flags[@]}" --ignore-scripts "code-server@$CODE_SERVER_VERSION") >&2

vscode="$work/node_modules/code-server/lib/vscode"
[[ -d "$vscode" ]] || die "code-server package has no lib/vscode"

log "npm install --omit=dev --ignore-scripts in lib/vscode"
(cd "$vscode" && npm install "${npm_flags[@]}" --omit=dev --ignore-scripts) >&2

# node-pty last and alone: its post-install step fails on `npx node-gyp` (no network) after
# pty.node is built, and a failing package can stop npm from building the others.
log "npm rebuild ${VSCODE_NATIVE[*]} node-pty in lib/vscode (compiles native code; takes minutes)"
(cd "$vscode" && npm rebuild "${npm_flags[@]}" "${VSCODE_NATIVE[@]}") >&2
pty_log="$work/npm-rebuild-node-pty.log"
if ! (cd "$vscode" && npm rebuild "${npm_flags[@]}" node-pty) >"$pty_log" 2>&1; then
    log "npm rebuild node-pty failed (expected: its post-install needs the network); checking pty.node"
fi
# Judge the native modules by whether Node can load them, not by npm's exit status.
for mod in "${VSCODE_NATIVE[@]}" node-pty; do
    (cd "$vscode" && node -e 'require(process.argv[1])' "$mod") \
        || { [[ $mod != node-pty ]] || tail -n 40 "$pty_log" >&2; die "native module $mod does not load after npm rebuild"; }
    log "  $mod loads"
done

log "copying $RG into @vscode/ripgrep"
mkdir -p "$vscode/node_modules/@vscode/ripgrep/bin"
cp "$RG" "$vscode/node_modules/@vscode/ripgrep/bin/rg"

log "creating the links code-server's postinstall.sh makes"
ln -sfn node_modules "$vscode/node_modules.asar"
ln -sfn code-linux.sh "$vscode/bin/remote-cli/code-server"
ln -sfn browser-linux.sh "$vscode/bin/helpers/browser.sh"

log "npm install --omit=dev --ignore-scripts in lib/vscode/extensions"
(cd "$vscode/extensions" && npm install "${npm_flags[@]}" --omit=dev --ignore-scripts) >&2

log "npm rebuild argon2"
(cd "$work" && npm rebuild "${npm_flags[@]}" argon2) >&2
(cd "$work/node_modules/code-server" && node -e 'require("argon2")') || die "argon2 does not load after npm rebuild"

# In a scratch home: even --version writes a default config and logs under ~/.config, ~/.local.
scratch="$work/version-check"
version="$(XDG_CONFIG_HOME="$scratch" XDG_DATA_HOME="$scratch" \
    "$work/$BIN_REL" --config "$scratch/config.yaml" --version 2>&1)" \
    || die "the new code-server does not start: $version"
rm -rf "$scratch"
version="$(grep -m1 -E '^[0-9]+\.[0-9]+\.[0-9]+ ' <<<"$version")" || true
[[ "$version" == "$CODE_SERVER_VERSION "* ]] || die "code-server --version printed '$version', expected $CODE_SERVER_VERSION"
log "code-server --version: $version"

echo "$CODE_SERVER_VERSION" >"$work/$STAMP_NAME"
mv "$work" "$TOOLS_DIR"
work=""
log "installed code-server $CODE_SERVER_VERSION in $TOOLS_DIR in $((SECONDS - started)) s"
echo "$TOOLS_DIR/$BIN_REL"
