#!/bin/sh
# Set up what is missing, build phoenix, build the bundled definitions for real
# (busybox LXC containers on lxcbr0), and show the result. Run as root.
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
echo "== phoenix build all"
phoenix build all
echo "== phoenix status"
phoenix status
