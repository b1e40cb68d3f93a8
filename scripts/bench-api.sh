#!/bin/sh
# The api backend at scale: gen_graph.py's guests (../shared/bench) built on the
# REST API stand-in's cluster, then built again as a no-op, in release mode.
# It takes several minutes (about 12 for 1000 guests on a 2-core machine, after
# the release build), most of it the stand-in's Python, so run it on an
# otherwise idle machine.
#
#   scripts/bench-api.sh [GUESTS [NODES]]     (default 1000 guests, 10 nodes)
#
# The test (tests/it/api_backend/scale.rs) checks the build (every guest in the
# cluster, spread over all nodes, no request the API would refuse) and that the
# no-op is one request; this script shows its `bench-api:` lines as a table.
set -eu

guests=${1:-${PHOENIX_BENCH_GUESTS:-1000}}
nodes=${2:-${PHOENIX_BENCH_NODES:-10}}
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "building $guests guests (and gen_graph.py's 4 templates) on $nodes stand-in nodes..." >&2
status=0
PHOENIX_BENCH_GUESTS=$guests PHOENIX_BENCH_NODES=$nodes \
    cargo test --release --test it api_backend::scale::bench -- --ignored --nocapture \
    >"$log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
    cat "$log" >&2
    echo "bench-api: the benchmark failed (exit $status)" >&2
    exit "$status"
fi

grep '^bench-api: run=' "$log" | awk '
    BEGIN {
        printf "%-6s %7s %6s %10s %9s %10s %8s\n", "run", "guests", "nodes", "wall (s)", "requests", "req/guest", "ssh"
    }
    {
        for (i = 2; i <= NF; i++) {
            split($i, kv, "=")
            v[kv[1]] = kv[2]
        }
        printf "%-6s %7s %6s %10s %9s %10s %8s\n", v["run"], v["guests"], v["nodes"], v["wall_s"], v["requests"], v["requests_per_guest"], v["ssh"]
    }'
grep '^bench-api: placement\|^bench-api: requests by kind\|^bench-api: ssh by command' "$log" | sed 's/^bench-api: /  /'
