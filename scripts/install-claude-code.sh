#!/usr/bin/env bash
# Installs the real Claude Code CLI from npm into a cache folder (once) and prints the path of
# its `claude` binary. Used by scripts/test.sh; safe to run again (it skips when cached).
set -euo pipefail
version="${GLITCH_CLAUDE_CODE_VERSION:-2.1.332}"
cache="${GLITCH_TOOLS_DIR:-$HOME/.cache/glitch-tools}/claude-code-$version"
bin="$cache/node_modules/@anthropic-ai/claude-code/bin/claude.exe"
check() {
  [ -x "$bin" ] && HOME="$(mktemp -d)" DISABLE_AUTOUPDATER=1 timeout 60 "$bin" --version >/dev/null 2>&1
}
if ! check; then
  command -v npm >/dev/null || { echo "npm is required to install Claude Code" >&2; exit 1; }
  mkdir -p "$cache"
  (cd "$cache" && npm install --no-audit --no-fund --loglevel=error "@anthropic-ai/claude-code@$version" >&2)
  # npm 11 does not run the package's postinstall; it links the native binary into place.
  (cd "$cache" && node node_modules/@anthropic-ai/claude-code/install.cjs >&2)
  check || { echo "Claude Code did not install correctly into $cache" >&2; exit 1; }
fi
echo "$bin"
