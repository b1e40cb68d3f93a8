#!/bin/sh
# Install what phoenix needs on a Debian machine, only what is missing, without
# prompts. Run as root (or with sudo). Safe to run again.
#   - build: a Rust toolchain (cargo), a C compiler
#   - tests: graphviz (renders the DOT output, lays out the HTML graph), chromium
#     (runs the HTML graph page headless), python3 (the benchmark generator)
#   - real containers: lxc, busybox-static, rsync (lxc-copy), the lxcbr0 bridge
#     (the demo's network), and root's subordinate ids 100000-165535 in
#     /etc/subuid and /etc/subgid (where unprivileged containers' ids go, as on
#     Proxmox)
#   - the ssh runner's test: openssh-server (the test starts its own sshd)
#
#   sh scripts/setup.sh                    what is missing
#   sh scripts/setup.sh --test-net         that, and the real-LXC tests' own bridge
#                                          phxtest0 (10.250.0.1/24), apart from the demo's
#   sh scripts/setup.sh --remove-test-net  remove the tests' bridge (nothing else)
set -eu

TEST_BRIDGE=phxtest0
TEST_ADDR=10.250.0.1/24
TEST_PREFIX=10.250.0.

test_net=no
case "${1:-}" in
    "") ;;
    --test-net) test_net=yes ;;
    --remove-test-net)
        if ip link show "$TEST_BRIDGE" >/dev/null 2>&1; then
            ip link del "$TEST_BRIDGE"
            echo "setup: removed the test bridge $TEST_BRIDGE"
        fi
        exit 0
        ;;
    *)
        echo "usage: sh scripts/setup.sh [--test-net | --remove-test-net]" >&2
        exit 2
        ;;
esac

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

# Unprivileged containers map their ids to 100000-165535 (Proxmox's default).
# Root needs no entry to do so, but the entry keeps shadow from handing the same
# ids to a new user (useradd allocates from 100000).
for f in /etc/subuid /etc/subgid; do
    if ! awk -F: '($1 == "root" || $1 == "0") && $2 <= 100000 && $2 + $3 >= 165536 { ok = 1 } END { exit !ok }' "$f" 2>/dev/null; then
        need_root
        others=$(awk -F: '$1 != "root" && $1 != "0" && $2 < 165536 && $2 + $3 > 100000' "$f" 2>/dev/null || true)
        if [ -n "$others" ]; then
            echo "setup: warning: $f gives other users ids in 100000-165535, which unprivileged containers use:" >&2
            echo "$others" >&2
        fi
        if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]; then echo >> "$f"; fi
        echo "root:100000:65536" >> "$f"
        echo "setup: gave root the ids 100000-165535 in $f (unprivileged containers)"
    fi
done

# The real-LXC tests' own bridge, so that they never meet the demo's containers
# on lxcbr0 (or a user's): a bridge with the host's address on a subnet of its own.
if [ "$test_net" = yes ]; then
    if ! ip link show "$TEST_BRIDGE" >/dev/null 2>&1; then
        need_root
        taken=$(ip -4 -o addr show | awk -v p="$TEST_PREFIX" 'index($4, p) == 1 { print $2 }')
        if [ -n "$taken" ]; then
            echo "setup: ${TEST_PREFIX}0/24 is already on $taken; the tests' bridge needs it for itself" >&2
            exit 1
        fi
        ip link add "$TEST_BRIDGE" type bridge
        echo "setup: created the test bridge $TEST_BRIDGE"
    fi
    if ! ip -4 -o addr show dev "$TEST_BRIDGE" | grep -q "inet $TEST_ADDR "; then
        need_root
        ip addr add "$TEST_ADDR" dev "$TEST_BRIDGE"
    fi
    if ! ip -o link show dev "$TEST_BRIDGE" | grep -q '[<,]UP[,>]'; then
        need_root
        ip link set "$TEST_BRIDGE" up
    fi
    echo "setup: test bridge $TEST_BRIDGE ($TEST_ADDR) is up"
fi
echo "setup: ok"
