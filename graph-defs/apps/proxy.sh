#!/bin/sh
# App for proxy: fetches the page of the upstream web guest (app_settings.upstream in
# the guest JSON: the address of a guest on this guest's own /24, the demo's bridge)
# and serves a copy on port 8080 with busybox httpd. Re-fetches on every run (up to
# 10 tries, 1 s apart); starts httpd only if nothing answers on the port yet.
# $1 = guest ID.
set -eu
id=${1:?usage: proxy.sh GUEST_ID}
json=$(tr -d '\n\r' < "${PHOENIX_GUEST_JSON:?PHOENIX_GUEST_JSON is not set}")
# obj NAME: the body of a flat JSON object; val TEXT KEY: a string in it.
obj() { printf '%s' "$json" | sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*{\([^{}]*\)}.*/\1/p'; }
val() { printf '%s' "$1" | sed -n 's/.*"'"$2"'"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'; }
up=$(val "$(obj app_settings)" upstream)
# Only the demo's own network: the first three parts of this guest's address.
net=$(val "$(obj network_config)" ip | sed -n 's/^\([0-9]*\.[0-9]*\.[0-9]*\)\.[0-9]*\/.*/\1/p')
[ -n "$net" ] || { echo "proxy: no static network_config.ip in the guest JSON" >&2; exit 1; }
case "$up" in
  "$net".[0-9] | "$net".[0-9][0-9] | "$net".[0-9][0-9][0-9]) ;;
  *) echo "proxy: app_settings.upstream '$up' is not a guest on the demo network ($net.x)" >&2; exit 1 ;;
esac
root=/srv/proxy
port=8080
mkdir -p "$root" /opt/phoenix/services
unset http_proxy HTTP_PROXY
i=1
until wget -q -O "$root/index.html.new" "http://$up/"; do
  [ "$i" -lt 10 ] || { echo "proxy: http://$up/ did not answer" >&2; exit 1; }
  i=$((i + 1)); sleep 1
done
mv "$root/index.html.new" "$root/index.html"
echo "port=$port" > /opt/phoenix/services/proxy
echo "proxy: guest $id copied http://$up/ to $root/index.html"
# The container's init starts it again after a restart (rcS runs /etc/phoenix/boot.d/*).
mkdir -p /etc/phoenix/boot.d
printf '#!/bin/sh\nhttpd -p %s -h %s\n' "$port" "$root" > /etc/phoenix/boot.d/proxy
if wget -q -O /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
  echo "proxy: already listening on port $port"
else
  httpd -p "$port" -h "$root"
  echo "proxy: started httpd on port $port"
fi
