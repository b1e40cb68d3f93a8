#!/usr/bin/env bash
# Time `phoenix plan all` on a synthetic tree of 10,000 guests (gen_graph.py).
#
# Builds the release binary, generates the tree into a temporary directory, runs
#   phoenix --defs TREE --cache EMPTY plan all --output json >/dev/null
# RUNS times (default 21), and prints the median wall time (hyperfine when installed, else a
# `date +%s%N` loop) and the peak RSS (`/usr/bin/time -f %M`, max over the runs).
# Ends with a Markdown table for the README.
#
# A second measurement plans against a state where everything is built (records
# written by `phoenix build` on the sim backend): the no-op plan. --no-noop skips it.
#
# Usage: scripts/bench-plan.sh [--guests N] [--runs N] [--no-build] [--no-noop] [--keep]
# Environment: PHOENIX_SHARED  directory holding bench/gen_graph.py
#                              (default: <repo>/../shared)
#              PHOENIX_BIN     binary to time (default: target/release/phoenix)
#              PYTHON          python interpreter (default: python3)
#              NO_HYPERFINE=1  time with the `date +%s%N` loop even if hyperfine exists
# Target (issue): under 150 ms and under 150 MB for 10,000 guests on 2 cores.
set -euo pipefail

GUESTS=10000
RUNS=21
BUILD=1
KEEP=0
NOOP=1
while [ $# -gt 0 ]; do
    case "$1" in
        --guests) GUESTS="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --keep) KEEP=1; shift ;;
        --no-noop) NOOP=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-plan: unknown argument: $1" >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${PHOENIX_SHARED:-$ROOT/../shared}"
GEN="$SHARED/bench/gen_graph.py"
PYTHON="${PYTHON:-python3}"
BIN="${PHOENIX_BIN:-$ROOT/target/release/phoenix}"
TARGET_MS=150
TARGET_MB=150

die() { echo "bench-plan: $*" >&2; exit 1; }

[ -f "$GEN" ] || die "generator not found: $GEN (set PHOENIX_SHARED)"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install -y time)"

if [ "$BUILD" = 1 ]; then
    echo "== cargo build --release" >&2
    (cd "$ROOT" && cargo build --release --quiet --bin phoenix) || die "release build failed"
fi
[ -x "$BIN" ] || die "binary not found: $BIN"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/phoenix-bench.XXXXXX")"
if [ "$KEEP" = 1 ]; then
    echo "keeping $WORK" >&2
else
    trap 'rm -rf "$WORK"' EXIT
fi
TREE="$WORK/tree"
CACHE="$WORK/cache-empty"
mkdir -p "$CACHE"

echo "== generating $GUESTS guests" >&2
"$PYTHON" "$GEN" "$TREE" --guests "$GUESTS" >&2 || die "gen_graph.py failed"
[ -s "$TREE/phoenix_lxc_configs.json" ] || die "gen_graph.py wrote no phoenix_lxc_configs.json"

unset PHOENIX_BACKEND PHOENIX_VERBOSE PHOENIX_LOG PHOENIX_OUTPUT PHOENIX_DEFS PHOENIX_CACHE

# measure LABEL CACHE: time `plan all` against the state in CACHE; appends a table row.
ROWS=()
measure() {
    local label="$1" cache="$2" tag="$3"
    local cmd=("$BIN" --defs "$TREE" --cache "$cache" plan all --output json)
    # One checked run first: a broken tree or binary must fail the script, not be timed.
    if ! "${cmd[@]}" >"$WORK/$tag.json" 2>"$WORK/$tag.err"; then
        cat "$WORK/$tag.err" >&2
        die "phoenix plan all failed ($label)"
    fi
    local summary
    summary=$("$PYTHON" -c '
import collections, json, sys
acts = json.load(open(sys.argv[1]))["actions"]
c = collections.Counter(a["action"] for a in acts)
print(len(acts), " ".join("%s=%d" % kv for kv in sorted(c.items())))' "$WORK/$tag.json") \
        || die "plan output is not valid JSON ($label)"
    echo "== $label: ${summary#* } (${summary%% *} nodes)" >&2
    NODES="${summary%% *}"
    LAST_SUMMARY="${summary#* }"

    local median_ms
    if [ "${NO_HYPERFINE:-0}" != 1 ] && command -v hyperfine >/dev/null; then
        echo "== $label: hyperfine, $RUNS runs" >&2
        # hyperfine splits the command line itself (--shell=none): quote it shell-style.
        local line
        printf -v line '%q ' "${cmd[@]}"
        hyperfine --style basic --warmup 2 --runs "$RUNS" --shell=none \
            --export-json "$WORK/$tag.hyperfine.json" --output=null "$line" >&2 \
            || die "hyperfine failed ($label)"
        median_ms=$("$PYTHON" -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$WORK/$tag.hyperfine.json")
    else
        echo "== $label: $RUNS runs (hyperfine not installed: date loop)" >&2
        "${cmd[@]}" >/dev/null 2>&1; "${cmd[@]}" >/dev/null 2>&1   # warm-up
        : >"$WORK/$tag.times"
        local t0 t1
        for _ in $(seq "$RUNS"); do
            t0=$(date +%s%N)
            "${cmd[@]}" >/dev/null 2>/dev/null
            t1=$(date +%s%N)
            echo $(( (t1 - t0) / 1000 )) >>"$WORK/$tag.times"
        done
        median_ms=$(sort -n "$WORK/$tag.times" | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f", m / 1000}')
    fi

    # Peak RSS: max over the runs.
    echo "== $label: peak RSS, $RUNS runs" >&2
    local peak_kb=0 kb
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f %M -o "$WORK/$tag.rss" "${cmd[@]}" >/dev/null 2>/dev/null \
            || die "phoenix plan all failed under /usr/bin/time ($label)"
        kb=$(tail -n 1 "$WORK/$tag.rss")
        [ "$kb" -gt "$peak_kb" ] && peak_kb=$kb
    done
    local peak_mb
    peak_mb=$(awk -v k="$peak_kb" 'BEGIN {printf "%.1f", k / 1024}')
    ROWS+=("| $label | $median_ms | $peak_mb |")
    VERDICTS+=("$label: time $(verdict "$median_ms" $TARGET_MS), memory $(verdict "$peak_mb" $TARGET_MB)")
}

verdict() { # value target
    awk -v v="$1" -v t="$2" 'BEGIN {print (v < t) ? "yes" : "no"}'
}
VERDICTS=()

measure "\`plan all\`, empty state (everything to create)" "$CACHE" empty

# No-op plan: every node recorded as built. `phoenix build` on the sim backend
# writes the records (it fsyncs each one, so this takes a minute at 10,000 guests).
if [ "$NOOP" = 1 ]; then
    if "$BIN" build --help >/dev/null 2>&1; then
        BUILT="$WORK/cache-built"
        mkdir -p "$BUILT"
        echo "== sim build of everything (records for the no-op plan)" >&2
        "$BIN" --defs "$TREE" --cache "$BUILT" --backend sim build all --output json \
            >"$WORK/build.json" 2>"$WORK/build.err" \
            || { tail -n 20 "$WORK/build.err" >&2; die "sim build failed"; }
        measure "\`plan all\`, everything built (no-op)" "$BUILT" noop
        case "$LAST_SUMMARY" in
            "fresh=$NODES") ;;
            *) die "no-op plan is not all fresh: $LAST_SUMMARY" ;;
        esac
    else
        echo "== no \`phoenix build\` command: no-op plan skipped" >&2
    fi
fi

echo
echo "phoenix plan all --output json, $GUESTS guests ($NODES nodes), $(nproc) cores, median of $RUNS runs, $(date -u +%Y-%m-%d)"
echo
echo "| what | median ms | peak MB |"
echo "|---|---:|---:|"
for r in "${ROWS[@]}"; do echo "$r"; done
echo "| target | < $TARGET_MS | < $TARGET_MB |"
echo
for v in "${VERDICTS[@]}"; do echo "within target: $v"; done
