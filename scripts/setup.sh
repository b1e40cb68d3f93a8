#!/bin/sh
# Install what phoenix needs on a Debian machine, only what is missing, without
# prompts. Run as root (or with sudo). Safe to run again.
#   - build: a Rust toolchain (cargo), a C compiler
#   - tests: graphviz (renders the DOT output, lays out the HTML graph), chromium
#     (runs the HTML graph page headless), python3 (the benchmark generator)
#   - real containers: lxc, busybox-static, rsync (lxc-copy), and the lxcbr0 bridge
#   - the ssh runner's test: openssh-server (the test starts its own sshd)
set -eu

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: run as root (sudo $0)" >&2
        exit 1
    fi
}

missing=""
for pkg in graphviz chromium python3 lxc busybox-static rsync iproute2 ninja-build hyperfine time openssh-server; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
command -v cc >/dev/null 2>&1 || missing="$missing gcc"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
if [ -n "$missing" ]; then
    need_root
    echo "setup: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: installing the Rust toolchain (rustup)"
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy -c rustfmt >/dev/null
fi

# The bridge the bundled containers use (lxc-net normally provides it).
if command -v ip >/dev/null 2>&1 && ! ip link show lxcbr0 >/dev/null 2>&1; then
    need_root
    if command -v systemctl >/dev/null 2>&1 && systemctl start lxc-net 2>/dev/null && ip link show lxcbr0 >/dev/null 2>&1; then
        echo "setup: started lxc-net (lxcbr0)"
    else
        ip link add lxcbr0 type bridge
        ip addr add 10.0.3.1/24 dev lxcbr0
        ip link set lxcbr0 up
        echo "setup: created bridge lxcbr0 (10.0.3.1/24)"
    fi
fi
echo "setup: ok"
