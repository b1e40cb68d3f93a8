#!/bin/sh
# Set up what is missing, build phoenix, build the bundled definitions (graph-defs/)
# for real as busybox LXC containers on lxcbr0 (named phx-<id>, under /var/lib/lxc,
# state in ./cache), show the result and say how to look at it and destroy it.
# Run as root. Safe to run again: a second run builds nothing (every node fresh).
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "quickstart: run as root (sudo sh scripts/quickstart.sh): it builds real LXC containers" >&2
    exit 1
fi
sh scripts/setup.sh
[ -x "$HOME/.cargo/bin/cargo" ] && PATH="$HOME/.cargo/bin:$PATH"
echo "== cargo build --release"
cargo build --release --quiet
bin=./target/release/phoenix
phoenix() { "$bin" --defs graph-defs --cache cache "$@"; }
echo "== phoenix validate"
phoenix validate
echo "== phoenix plan all"
phoenix plan all
echo "== phoenix build all"
if ! phoenix build all; then
    echo "quickstart: the build failed; the summary above names each node's log" >&2
    echo "  $bin logs <node>     every command run for it, with its output" >&2
    echo "  sh scripts/quickstart.sh   again resumes at the failed step" >&2
    exit 1
fi
echo "== phoenix status"
phoenix status
echo "== phoenix graph"
# States in words where there are no colours (a pipe, a log).
if [ -t 1 ]; then phoenix graph --format tree; else phoenix graph --format tree --state; fi
cat <<EOF

== the demo is built: containers phx-900 ... phx-950 on lxcbr0 (lxc-ls -f lists them;
   the templates 900, 901, 902 and 920 are stopped, the services run). From this
   directory (or install phoenix with \`cargo install --path .\` and drop $bin):

  $bin status            what is built, and what a build would do now
  $bin graph             each guest with the template chain it is cloned from
  $bin graph --format html > graph.html && xdg-open graph.html
                                          the graph as a page: click a node for its steps
  $bin explain 950       why a build would touch a guest (after you edit graph-defs/)
  $bin logs 950          every command run for a guest, with its output
  wget -qO- http://10.0.3.150:8000/v1/models
                                          what the demo's vllm-demo guest serves
  sh scripts/quickstart.sh                again: nothing to do, every node fresh

Destroy the demo (its containers; the cache keeps the logs):

  $bin destroy all --yes
EOF
