#!/usr/bin/env bash
# The one command that runs every test (README). Installs what the tests need (the real
# Claude Code CLI, cached), then runs formatting and lint checks and the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

echo "==> Claude Code CLI"
GLITCH_CLAUDE_BIN="$(scripts/install-claude-code.sh)"
export GLITCH_CLAUDE_BIN
"$GLITCH_CLAUDE_BIN" --version 2>/dev/null | sed 's/^/    /' || true

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test (workspace)"
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked

echo "==> all tests passed in $(( $(date +%s) - start )) s"
