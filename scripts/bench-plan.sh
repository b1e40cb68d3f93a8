#!/usr/bin/env bash
# Time phoenix's planning commands on synthetic trees (gen_graph.py), this tree's
# build beside an earlier commit's, and print a Markdown table for the README.
#
# For each size (default 1,000, 10,000 and 100,000 guests) it times, with both binaries
# side by side in one hyperfine run (median of RUNS, after 2 warm-ups):
#   phoenix plan all --output json          against an empty state (everything to create)
#   phoenix validate                        (10,000 guests and up)
#   phoenix graph all --format json         (10,000 guests and up)
# and at 10,000 guests the no-op plan: every guest recorded as built (records written
# by `phoenix build` on the sim backend, about a minute), once as this tree's build
# writes them and once as the earlier commit's did; and the plan over the same records
# after a change to the base template, which every guest descends from. Peak memory is the largest RSS
# of RUNS runs under /usr/bin/time.
#
# The earlier commit (--before, default: the last commit before the planning work of
# issue 11) is built in a git worktree into target/bench-before, which is kept, so a
# second run does not build it again.
#
# Usage: scripts/bench-plan.sh [--before REV] [--sizes "1000 10000 100000"] [--runs N]
#                              [--no-build] [--no-noop] [--keep]
# Environment: PHOENIX_SHARED  directory holding bench/gen_graph.py (default: <repo>/../shared)
#              PYTHON          python interpreter (default: python3)
# Needs: hyperfine, /usr/bin/time (apt-get install -y hyperfine time), git, cargo.
set -euo pipefail

BEFORE=29b4bf6
SIZES="1000 10000 100000"
RUNS=11
BUILD=1
KEEP=0
NOOP=1
while [ $# -gt 0 ]; do
    case "$1" in
        --before) BEFORE="$2"; shift 2 ;;
        --sizes) SIZES="$2"; shift 2 ;;
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
NEW="$ROOT/target/release/phoenix"
OLD_TARGET="$ROOT/target/bench-before"
OLD="$OLD_TARGET/release/phoenix"

die() { echo "bench-plan: $*" >&2; exit 1; }

[ -f "$GEN" ] || die "generator not found: $GEN (set PHOENIX_SHARED)"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
command -v hyperfine >/dev/null || die "hyperfine not found (apt-get install -y hyperfine)"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install -y time)"

OLD_REV=$(git -C "$ROOT" rev-parse --short "$BEFORE^{commit}") || die "unknown commit: $BEFORE"
NEW_REV=$(git -C "$ROOT" rev-parse --short HEAD)
git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock || NEW_REV="$NEW_REV+changes"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/phoenix-bench.XXXXXX")"
cleanup() {
    git -C "$ROOT" worktree remove --force "$WORK/before" >/dev/null 2>&1 || true
    [ "$KEEP" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
[ "$KEEP" = 1 ] && echo "keeping $WORK" >&2

if [ "$BUILD" = 1 ]; then
    echo "== cargo build --release (this tree, $NEW_REV)" >&2
    (cd "$ROOT" && cargo build --release --quiet --bin phoenix) || die "release build failed"
    stamp="$OLD_TARGET/.rev"
    if [ ! -x "$OLD" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$OLD_REV" ]; then
        echo "== cargo build --release ($OLD_REV, in a worktree)" >&2
        git -C "$ROOT" worktree add --detach --quiet "$WORK/before" "$OLD_REV" || die "git worktree add failed"
        (cd "$WORK/before" && CARGO_TARGET_DIR="$OLD_TARGET" cargo build --release --quiet --bin phoenix) \
            || die "release build of $OLD_REV failed"
        echo "$OLD_REV" >"$stamp"
    fi
fi
[ -x "$NEW" ] || die "binary not found: $NEW"
[ -x "$OLD" ] || die "binary not found: $OLD (run without --no-build)"

unset PHOENIX_BACKEND PHOENIX_VERBOSE PHOENIX_LOG PHOENIX_OUTPUT PHOENIX_DEFS PHOENIX_CACHE

ROWS=()
# measure LABEL TARGET TREE CACHE ARGS...: both binaries, one table row.
# sim_build BIN TREE CACHE WHO: build every guest of TREE on the sim backend with
# BIN, recording into CACHE (about a minute at 10,000 guests).
sim_build() {
    local bin="$1" tree="$2" cache="$3" who="$4"
    mkdir -p "$cache"
    echo "== sim build of everything with $who (records for the no-op plan)" >&2
    "$bin" --defs "$tree" --cache "$cache" --backend sim build all --output json \
        >"$cache.build.json" 2>"$cache.build.err" \
        || { tail -n 20 "$cache.build.err" >&2; die "sim build with $who failed"; }
}

measure() {
    local label="$1" target="$2" tree="$3" cache="$4"; shift 4
    local args=(--defs "$tree" --cache "$cache" "$@")
    local bin out
    # A checked run of each first: a broken tree or binary fails the script, not the timing.
    for bin in "$OLD" "$NEW"; do
        if ! "$bin" "${args[@]}" >"$WORK/out.json" 2>"$WORK/out.err"; then
            cat "$WORK/out.err" >&2
            die "$bin $* failed"
        fi
    done
    echo "== $label: hyperfine, $RUNS runs each" >&2
    local a b
    printf -v a '%q ' "$OLD" "${args[@]}"
    printf -v b '%q ' "$NEW" "${args[@]}"
    hyperfine --style basic -N --warmup 2 --runs "$RUNS" --export-json "$WORK/h.json" \
        --output=null "$a" "$b" >&2 || die "hyperfine failed ($label)"
    local medians
    medians=$("$PYTHON" -c 'import json,sys; print(" ".join("%.0f" % (r["median"]*1000) for r in json.load(open(sys.argv[1]))["results"]))' "$WORK/h.json")
    local peaks=() kb peak
    for bin in "$OLD" "$NEW"; do
        peak=0
        for _ in $(seq "$RUNS"); do
            /usr/bin/time -f %M -o "$WORK/rss" "$bin" "${args[@]}" >/dev/null 2>&1 || die "$bin $* failed under /usr/bin/time"
            kb=$(tail -n 1 "$WORK/rss")
            [ "$kb" -gt "$peak" ] && peak=$kb
        done
        peaks+=("$(awk -v k="$peak" 'BEGIN {printf "%.0f", k / 1024}')")
    done
    set -- $medians
    ROWS+=("| $label | $1 ms, ${peaks[0]} MB | $2 ms, ${peaks[1]} MB | $target |")
}

for n in $SIZES; do
    tree="$WORK/g$n"
    echo "== generating $n guests" >&2
    "$PYTHON" "$GEN" "$tree" --guests "$n" >&2 || die "gen_graph.py failed"
    nodes=$("$PYTHON" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["lxc_configs"]))' "$tree/phoenix_lxc_configs.json")
    guests=$("$PYTHON" -c 'import sys; print(f"{int(sys.argv[1]):,}")' "$nodes")
    empty="$WORK/empty$n"
    mkdir -p "$empty"
    case "$n" in
        10000) t_plan="< 60 ms, < 100 MB"; t_val="< 50 ms"; t_graph="< 50 ms" ;;
        100000) t_plan="< 700 ms"; t_val=""; t_graph="" ;;
        *) t_plan=""; t_val=""; t_graph="" ;;
    esac
    measure "\`plan all --output json\`, $guests guests, empty state" "$t_plan" "$tree" "$empty" plan all --output json
    if [ "$n" -ge 10000 ]; then
        measure "\`validate\`, $guests guests" "$t_val" "$tree" "$empty" validate
        measure "\`graph all --format json\`, $guests guests" "$t_graph" "$tree" "$empty" graph all --format json
    fi
    if [ "$NOOP" = 1 ] && [ "$n" = 10000 ]; then
        built="$WORK/built$n"
        sim_build "$NEW" "$tree" "$built" "this tree"
        "$NEW" --defs "$tree" --cache "$built" plan all --output json >"$WORK/noop.json"
        fresh=$("$PYTHON" -c 'import json,sys; a=json.load(open(sys.argv[1]))["actions"]; print(sum(x["action"]=="fresh" for x in a), len(a))' "$WORK/noop.json")
        [ "${fresh% *}" = "${fresh#* }" ] || die "the no-op plan is not all fresh: $fresh"
        measure "\`plan all --output json\`, $guests guests, everything built (no-op)" "< 80 ms" "$tree" "$built" plan all --output json
        # The base template's OS template changed: every guest descends from it, so
        # every guest is replaced, and each clone's reason quotes its source's.
        changed="$WORK/changed$n"
        cp -r "$tree" "$changed"
        "$PYTHON" - "$changed/phoenix_lxc_configs.json" <<'PY' || die "could not change the base template"
import json, sys
path = sys.argv[1]
d = json.load(open(path))
d["lxc_configs"]["900"]["template"] = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
json.dump(d, open(path, "w"), indent=1)
PY
        measure "the same, after a change to the base template (every guest replaced)" "" "$changed" "$built" plan all --output json
        rm -rf "$changed"
        # The same records as the earlier commit's build leaves them: since c80bb14
        # a build ends by rewriting its journal with each node's newest line, which
        # the row above reads; before, the journal kept a line per step.
        built_old="$WORK/built-old$n"
        sim_build "$OLD" "$tree" "$built_old" "the earlier commit"
        measure "the same no-op plan, records as the earlier commit's build wrote them" "" "$tree" "$built_old" plan all --output json
    fi
    rm -rf "$tree" "$empty" "$WORK/built$n"* "$WORK/built-old$n"*
done

echo
echo "phoenix planning, $(nproc) cores, median of $RUNS runs and peak RSS, $(date -u +%Y-%m-%d)"
echo
echo "| measure | before ($OLD_REV) | this ($NEW_REV) | target |"
echo "|---|---:|---:|---|"
for r in "${ROWS[@]}"; do echo "$r"; done
