#!/bin/sh
# App for web: writes an index page naming this guest and serves it on port 80 with
# busybox httpd. Rewrites the page on every run; starts httpd only if nothing
# answers on the port yet. $1 = guest ID.
set -eu
id=${1:?usage: web.sh GUEST_ID}
root=/srv/www
port=80
mkdir -p "$root" /opt/phoenix/services
cat > "$root/index.html" <<PAGE
<html><body>
<h1>phoenix demo: ${PHOENIX_GUEST_NAME:-web}</h1>
<p>guest $id, served by busybox httpd</p>
</body></html>
PAGE
echo "port=$port" > /opt/phoenix/services/web
echo "web: wrote $root/index.html"
unset http_proxy HTTP_PROXY
# The container's init starts it again after a restart (rcS runs /etc/phoenix/boot.d/*).
mkdir -p /etc/phoenix/boot.d
printf '#!/bin/sh\nhttpd -p %s -h %s\n' "$port" "$root" > /etc/phoenix/boot.d/web
if wget -q -O /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
  echo "web: already listening on port $port"
else
  httpd -p "$port" -h "$root"
  echo "web: started httpd on port $port"
fi
