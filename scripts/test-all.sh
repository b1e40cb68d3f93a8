#!/bin/sh
# Set up what is missing (scripts/setup.sh), then run every check CI runs:
# formatting, clippy and rustdoc with warnings as errors, all tests, and a compile of the
# benchmarks (in the test profile).
set -eu
cd "$(dirname "$0")/.."
# The real-LXC tests run on a bridge of their own (phxtest0, 10.250.0.1/24), never
# the demo's lxcbr0: made here, and removed when this script ends unless it was
# there before.
if ! ip link show phxtest0 >/dev/null 2>&1; then
    trap 'sh scripts/setup.sh --remove-test-net' EXIT
    trap 'exit 130' INT TERM
fi
sh scripts/setup.sh --test-net
[ -x "$HOME/.cargo/bin/cargo" ] && PATH="$HOME/.cargo/bin:$PATH"

# Tests that need ../shared fail instead of skipping in CI.
if [ "${CI:-}" = "true" ]; then
    export PHOENIX_REQUIRE_SHARED=1
    export PHOENIX_REQUIRE_LXC=1
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo doc --no-deps (warnings as errors: broken links, stray HTML)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
echo "== cargo test"
cargo test --quiet 2>&1
# The benchmark is compiled in the test profile, with what `cargo test` built:
# `cargo bench --no-run` compiled phoenix and a dozen dependencies again in release
# (the dev-dependencies turn on other features of them), five minutes of a clean CI.
# `cargo bench --bench plan` runs it for real.
echo "== cargo test --benches --no-run (the benchmark compiles)"
cargo test --benches --no-run --quiet
echo "== all checks passed"
