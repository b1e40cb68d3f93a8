#!/bin/sh
# Set up what is missing, build phoenix, and run it on the bundled definitions.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
[ -x "$HOME/.cargo/bin/cargo" ] && PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet
phoenix() { ./target/release/phoenix --defs graph-defs --cache cache "$@"; }
echo "== phoenix validate"
phoenix validate
echo "== phoenix plan all"
phoenix plan all
echo "== phoenix graph"
phoenix graph
