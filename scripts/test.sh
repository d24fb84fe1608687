#!/usr/bin/env bash
# The one command that runs every test (README). Installs what the tests need (the real
# Claude Code CLI and the tansu broker, cached; PostgreSQL when the machine has none), then runs formatting and lint checks and the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

echo "==> Claude Code CLI"
GLITCH_CLAUDE_BIN="$(scripts/install-claude-code.sh)"
export GLITCH_CLAUDE_BIN
"$GLITCH_CLAUDE_BIN" --version 2>/dev/null | sed 's/^/    /' || true

echo "==> Kafka-protocol broker (tansu) for the audit pipeline tests"
GLITCH_TANSU_BIN="$(scripts/install-tansu.sh)"
export GLITCH_TANSU_BIN
"$GLITCH_TANSU_BIN" --version 2>/dev/null | sed 's/^/    /' || true

echo "==> PostgreSQL for the control-plane and audit index tests"
if [ -n "${GLITCH_TEST_DATABASE_URL:-}" ]; then
  echo "    using GLITCH_TEST_DATABASE_URL"
elif (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  echo "    using the local server at 127.0.0.1:5432"
elif ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "    no server running: the tests start a throwaway cluster with initdb"
elif command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "    installing PostgreSQL (the tests start a throwaway cluster with it)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
else
  echo "PostgreSQL is needed: set GLITCH_TEST_DATABASE_URL, run a server on 127.0.0.1:5432, or install postgresql" >&2
  exit 1
fi

echo "==> nginx for the rolling-restart test"
if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
  echo "    $( (nginx -v || /usr/sbin/nginx -v) 2>&1 | head -1)"
elif command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "    installing nginx-light"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
  # The package starts a default server on port 80; the test runs its own.
  (service nginx stop || systemctl stop nginx) >/dev/null 2>&1 || true
else
  echo "nginx is needed for the rolling-restart test: install it (e.g. apt-get install nginx-light)" >&2
  exit 1
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test (workspace)"
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked

echo "==> all tests passed in $(( $(date +%s) - start )) s"
