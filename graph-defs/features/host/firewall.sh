#!/bin/sh
# Host step firewall: reads the firewall section of the hypervisor config (and the
# guests' firewall rules next to it) and prints whether the firewall is enabled and
# how many rules it would apply. The demo changes nothing on the host.
# Runs on the host as root; $1 = path of phoenix_hypervisor_config.json.
set -eu
cfg=${1:?usage: firewall.sh /path/to/phoenix_hypervisor_config.json}
json=$(tr -d '\n\r' < "$cfg")
# Everything after the (last) "firewall": { key.
fw=$(printf '%s' "$json" | sed -n 's/.*"firewall"[[:space:]]*:[[:space:]]*{//p')
if [ -z "$fw" ]; then
  echo "firewall: no firewall section in $cfg; nothing to do"
  exit 0
fi
first() { printf '%s' "$fw" | grep -o "\"$1\"[[:space:]]*:[[:space:]]*\"*[A-Za-z]*" | head -n 1 | sed 's/.*:[[:space:]]*"*//'; }
enabled=$(first enabled)
rules=$(printf '%s' "$fw" | sed -n 's/.*"global_firewall_rules"[[:space:]]*:[[:space:]]*\[\([^]]*\)\].*/\1/p')
count=$(printf '%s' "$rules" | grep -o '{' | wc -l)
guests=0
for f in "$(dirname "$cfg")"/phoenix_lxc_configs.json "$(dirname "$cfg")"/phoenix_vm_configs.json; do
  [ -f "$f" ] || continue
  n=$(grep -oE '"type"[[:space:]]*:[[:space:]]*"(in|out)"' "$f" | wc -l)
  guests=$((guests + n))
done
echo "firewall: enabled=${enabled:-false} input=$(first default_input_policy) output=$(first default_output_policy)"
echo "firewall: would apply $count global rule(s) and $guests guest rule(s) from the guest definitions"
echo "firewall: demo mode, nothing changed on the host"
