#!/usr/bin/env bash
# Mutation testing of the state machine in breaker-runtime with cargo-mutants.
# Slow (every mutant rebuilds the crate and runs its tests), so not part of CI.
# Results: mutants.out/ (caught.txt, missed.txt, ...); summarise survivors in MUTANTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
files=(machine.rs window.rs state.rs clock.rs counts.rs permit.rs call.rs policy.rs control.rs settings.rs)
args=()
for f in "${files[@]}"; do args+=(--file "breaker-runtime/src/$f"); done
exec cargo mutants -p breaker-runtime "${args[@]}" --jobs "${MUTANTS_JOBS:-1}" "$@"
