#!/usr/bin/env bash
# Runs the loom models of breaker-runtime (src/loom_models.rs): every interleaving of the
# breaker's atomics for 2-3 threads, with preemptions bounded so CI stays fast.
set -euo pipefail
cd "$(dirname "$0")/.."
# A separate target dir: --cfg loom changes every crate's fingerprint.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom"
export RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
cargo test -p breaker-runtime --release --lib loom_models -- --test-threads=1 "$@"
