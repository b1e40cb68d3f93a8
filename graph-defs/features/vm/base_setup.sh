#!/bin/sh
# Feature base_setup (VMs): the bottom layer of the demo VMs. Creates /opt/phoenix
# and a /usr/local/bin/phoenix-info tool that lists the installed layers.
# $1 = guest ID. Busybox only; idempotent.
set -eu
id=${1:?usage: base_setup.sh GUEST_ID}
dir=/opt/phoenix/base_setup
echo "base_setup: VM $id (${PHOENIX_GUEST_NAME:-unnamed})"
mkdir -p "$dir" /usr/local/bin
cat > /usr/local/bin/phoenix-info <<'TOOL'
#!/bin/sh
# phoenix-info: prints the layers phoenix installed in this guest.
for m in /opt/phoenix/*/version; do
  [ -f "$m" ] && echo "$(basename "$(dirname "$m")"): $(head -n 1 "$m")"
done
exit 0
TOOL
chmod +x /usr/local/bin/phoenix-info
echo "version=1" > "$dir/version"
echo "base_setup: installed /usr/local/bin/phoenix-info, recorded $dir/version"
