#!/usr/bin/env bash
# Smoke-fuzzes every target: builds them once with cargo-fuzz (nightly, release with debug
# assertions, target dir fuzz/target), seeds the corpora, then runs each target for SECONDS
# (default 15). Exits 1 if any target crashes (panic, abort, OOM, timeout); the reproducer is
# left in fuzz/artifacts/<target>/. Prints each target's exec count.
#   fuzz/smoke.sh [SECONDS] [TARGET...]
# Without the nightly toolchain it skips, loudly, and exits 0 (so a machine without it lands).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
seconds="${1:-15}"
[ $# -gt 0 ] && shift

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "=================================================================="
    echo "SKIPPED: fuzzing needs the nightly toolchain (rustup toolchain install nightly)"
    echo "=================================================================="
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked || { echo "FAILED: cannot install cargo-fuzz"; exit 1; }
fi

# Every target with its max_len, from targets.txt (or only those named on the command line).
declare -A max_len
targets=()
while read -r t n _; do
    case "$t" in ''|'#'*) continue ;; esac
    max_len[$t]="$n"
    targets+=("$t")
done < "$here/targets.txt"
if [ $# -gt 0 ]; then
    for t in "$@"; do
        [ -n "${max_len[$t]:-}" ] || { echo "unknown target $t (see fuzz/targets.txt)"; exit 1; }
    done
    targets=("$@")
fi

"$here/seed.sh" >/dev/null || { echo "FAILED: seeding"; exit 1; }

# An explicit target dir: a CARGO_TARGET_DIR shared with stable builds must not get these.
target_dir="$here/target"
start=$(date +%s)
( cd "$repo" && cargo +nightly fuzz build -O -a --fuzz-dir "$here" --target-dir "$target_dir" ) \
    || { echo "FAILED: cargo fuzz build"; exit 1; }
echo "built the fuzz targets in $(( $(date +%s) - start )) s"
triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"
bin="$target_dir/$triple/release"

failed=()
mkdir -p "$here/artifacts" "$here/logs"
printf '%-12s %12s  %s\n' target execs result
for t in "${targets[@]}"; do
    mkdir -p "$here/artifacts/$t" "$here/corpus/$t"
    log="$here/logs/$t.log"
    # -timeout: one input taking 30 s is a finding (bounded time), not a slow machine.
    "$bin/$t" "$here/corpus/$t" \
        -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$here/artifacts/$t/" >"$log" 2>&1
    rc=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    [ -n "$execs" ] || execs="$(sed -n 's/^#\([0-9]*\)[[:space:]]*DONE.*/\1/p' "$log" | tail -1)"
    if [ $rc -eq 0 ]; then
        printf '%-12s %12s  %s\n' "$t" "${execs:-?}" ok
    else
        printf '%-12s %12s  %s\n' "$t" "${execs:-?}" "CRASH (exit $rc), log: fuzz/logs/$t.log"
        grep -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY|Test unit written' "$log" | head -8 | sed 's/^/    /'
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${#failed[@]} fuzz target(s) crashed: ${failed[*]} (reproducers in fuzz/artifacts/)"
    exit 1
fi
echo "fuzz smoke: ${#targets[@]} targets, ${seconds} s each, no crash"
