#!/bin/sh
# Feature base_setup (containers): the bottom layer of every demo container.
# Creates /opt/phoenix, a /usr/local/bin/phoenix-info tool that lists the installed
# layers and, when a bootstrap CA URL is given ($2), a copy of that CA's root.
# $1 = guest ID, $2 = bootstrap_ca_url or empty. Busybox only; idempotent.
set -eu
id=${1:?usage: base_setup.sh GUEST_ID [CA_URL]}
ca_url=${2:-}
dir=/opt/phoenix/base_setup
echo "base_setup: guest $id (${PHOENIX_GUEST_NAME:-unnamed})"
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
echo "base_setup: installed /usr/local/bin/phoenix-info"
if [ -n "$ca_url" ]; then
  # Only the demo's own CA container (10.0.3.x) is ever contacted.
  case "$ca_url" in
    http://10.0.3.[0-9]*) ;;
    *) echo "base_setup: refusing CA URL '$ca_url' (not a demo guest)" >&2; exit 1 ;;
  esac
  unset http_proxy HTTP_PROXY
  wget -q -O "$dir/ca-root.pem" "$ca_url/roots.pem"
  echo "base_setup: fetched CA root from $ca_url"
fi
echo "version=1" > "$dir/version"
echo "base_setup: recorded $dir/version"
