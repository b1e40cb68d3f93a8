#!/bin/sh
# Scheduler benchmark: the same 1,000-guest DAG (../shared/bench/gen_graph.py, every
# step `sleep 10ms`) built by ninja from build.ninja and by phoenix on the sim backend
# (PHOENIX_SIM_EXEC=1 runs each feature script for real), both at -j 8, from scratch.
# Prints the median of RUNS runs each and the ratio. Usage: scripts/bench-build.sh [GUESTS] [RUNS]
set -eu
cd "$(dirname "$0")/.."
guests=${1:-1000}
runs=${2:-5}
shared=${PHOENIX_SHARED:-../shared}
command -v ninja >/dev/null || { echo "bench-build: ninja is missing (apt-get install ninja-build)" >&2; exit 1; }
cargo build --release --quiet
mkdir -p target
work=$(mktemp -d "$PWD/target/bench-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
python3 "$shared/bench/gen_graph.py" "$work/defs" --guests "$guests" --sleep-ms 10 >/dev/null
bin=$PWD/target/release/phoenix

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ninja_times=""
phoenix_times=""
i=0
while [ "$i" -lt "$runs" ]; do
    rm -rf "$work/defs/s" "$work/defs/.ninja_log" "$work/defs/.ninja_deps"
    t0=$(now_ms); (cd "$work/defs" && ninja -j 8 >/dev/null); t1=$(now_ms)
    ninja_times="$ninja_times $((t1 - t0))"
    rm -rf "$work/cache"
    t0=$(now_ms)
    PHOENIX_SIM_EXEC=1 "$bin" --defs "$work/defs" --cache "$work/cache" --backend sim build all -j 8 --output json >"$work/out.json"
    t1=$(now_ms)
    phoenix_times="$phoenix_times $((t1 - t0))"
    i=$((i + 1))
done
tail -n 1 "$work/out.json" | grep -q '"steps_run"' || { echo "bench-build: phoenix printed no summary" >&2; exit 1; }
n=$(printf '%s\n' $ninja_times | median)
p=$(printf '%s\n' $phoenix_times | median)
echo "| build of $guests guests + 4 templates, 10 ms per step, -j 8 | median of $runs |"
echo "|---|---|"
echo "| ninja | ${n} ms |"
echo "| phoenix (sim backend) | ${p} ms |"
awk -v p="$p" -v n="$n" 'BEGIN { printf "| ratio phoenix / ninja | %.2f |\n", p / n }'
