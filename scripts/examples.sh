#!/usr/bin/env bash
# Runs every example to completion (debug build), the demo in its short configuration,
# so that none can rot. Fails if any example exits non-zero or runs past its time limit.
# The fleet example needs redis-server on PATH (or REDIS_URL).
#
#   scripts/examples.sh            # all of them
#   scripts/examples.sh demo       # only the ones named
set -euo pipefail
cd "$(dirname "$0")/.."

# Extra arguments per example: the demo's --quick run takes about 10 seconds.
args_for() {
  case "$1" in
    demo) echo "--quick" ;;
    *) echo "" ;;
  esac
}

if [ "$#" -gt 0 ]; then
  names=("$@")
else
  names=()
  for path in examples/*.rs examples/*/main.rs; do
    [ -e "$path" ] || continue
    case "$path" in
      */main.rs) name=$(basename "$(dirname "$path")") ;;
      *) name=$(basename "$path" .rs) ;;
    esac
    names+=("$name")
  done
fi

cargo build --examples --all-features

passed=0
failed=()
for name in "${names[@]}"; do
  args=$(args_for "$name")
  printf '\n--- cargo run --example %s %s\n' "$name" "${args:+-- $args}"
  start=$(date +%s)
  # shellcheck disable=SC2086 # $args is a list of words on purpose
  if timeout --kill-after=10 120 cargo run --quiet --all-features --example "$name" -- $args; then
    passed=$((passed + 1))
    printf -- '--- %s: ok in %ss\n' "$name" "$(($(date +%s) - start))"
  else
    status=$?
    failed+=("$name")
    printf -- '--- %s: FAILED (exit %s)\n' "$name" "$status"
  fi
done

printf '\nexamples: %d passed, %d failed\n' "$passed" "${#failed[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'failed: %s\n' "${failed[*]}"
  exit 1
fi
