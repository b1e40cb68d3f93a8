#!/bin/sh
# Host step network: checks that the host has the LXC tools phoenix needs and that
# the bridge named in network.interfaces.name exists. An absent bridge is created
# with the configured address and brought up; an existing one is never touched.
# Runs on the host as root; $1 = path of phoenix_hypervisor_config.json.
set -eu
cfg=${1:?usage: network.sh /path/to/phoenix_hypervisor_config.json}
missing=""
for tool in lxc-create lxc-attach ip; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  echo "network: missing on this host:$missing (install lxc and iproute2)" >&2
  exit 1
fi
json=$(tr -d '\n\r' < "$cfg")
ifaces=$(printf '%s' "$json" | sed -n 's/.*"interfaces"[[:space:]]*:[[:space:]]*{\([^{}]*\)}.*/\1/p')
field() { printf '%s' "$ifaces" | sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'; }
name=$(field name)
addr=$(field address)
case "$name" in
  "" | *[!A-Za-z0-9_.-]*) echo "network: bad or missing network.interfaces.name '$name' in $cfg" >&2; exit 1 ;;
esac
if ip link show "$name" >/dev/null 2>&1; then
  echo "network: bridge $name exists; leaving it as it is"
  exit 0
fi
echo "network: creating bridge $name${addr:+ with address $addr}"
ip link add "$name" type bridge
[ -z "$addr" ] || ip addr add "$addr" dev "$name"
ip link set "$name" up
echo "network: bridge $name is up"
