#!/usr/bin/env bash
# Installs the Kafka-protocol broker the tests run against (tansu, from crates.io: Apache Kafka
# itself cannot be installed on the CI machines) into a cache outside the checkout, once, and
# prints the binary's path. The first install compiles it (about 20 minutes on 2 cores); later
# runs find it cached. GLITCH_TANSU_BIN points at an existing binary instead.
set -euo pipefail
version=0.6.0
if [ -n "${GLITCH_TANSU_BIN:-}" ]; then
  echo "$GLITCH_TANSU_BIN"
  exit 0
fi
root="${GLITCH_TOOLS_DIR:-$HOME/.cache/glitch-tools}/tansu-$version"
bin="$root/bin/tansu"
if [ ! -x "$bin" ]; then
  echo "    installing tansu $version (first time only, ~20 min)" >&2
  cargo install tansu --version "$version" --locked --features dynostore,libsql \
    --root "$root" >&2
fi
echo "$bin"
