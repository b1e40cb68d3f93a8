#!/bin/sh
# App for ca: creates a fake (not cryptographic) demo CA root once, and serves it
# at http://<guest>:9000/roots.pem with busybox httpd, with an index page that
# shows its sha256. Keeps an existing root; starts httpd only if the port is free.
set -eu
id=${1:?usage: ca.sh GUEST_ID}
root=/srv/ca
port=9000
mkdir -p "$root" /opt/phoenix/services
if [ ! -f "$root/roots.pem" ]; then
  {
    echo "-----BEGIN PHOENIX DEMO CA ROOT-----"
    echo "subject=CN=Phoenix Demo Root CA"
    echo "issuer=guest $id (${PHOENIX_GUEST_NAME:-ca})"
    echo "serial=$(date +%s)"
    echo "-----END PHOENIX DEMO CA ROOT-----"
  } > "$root/roots.pem"
  echo "ca: created $root/roots.pem"
fi
sum=$(sha256sum "$root/roots.pem" | cut -d ' ' -f 1)
printf '<html><body><h1>Phoenix demo CA</h1><p><a href="roots.pem">roots.pem</a> sha256 %s</p></body></html>\n' \
  "$sum" > "$root/index.html"
echo "port=$port" > /opt/phoenix/services/ca
unset http_proxy HTTP_PROXY
# The container's init starts it again after a restart (rcS runs /etc/phoenix/boot.d/*).
mkdir -p /etc/phoenix/boot.d
printf '#!/bin/sh\nhttpd -p %s -h %s\n' "$port" "$root" > /etc/phoenix/boot.d/ca
if wget -q -O /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
  echo "ca: already listening on port $port"
else
  httpd -p "$port" -h "$root"
  echo "ca: started httpd on port $port (root sha256 $sum)"
fi
