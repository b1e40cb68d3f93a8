#!/bin/sh
# Feature docker (containers): the demo's stand-in for a Docker layer. Downloads
# nothing; records the layer under /opt/phoenix/docker and installs
# /usr/local/bin/docker-demo, which lists the services that app scripts registered
# in /opt/phoenix/services and whether each answers on its port.
set -eu
id=${1:?usage: docker.sh GUEST_ID [CA_URL]}
dir=/opt/phoenix/docker
echo "docker: guest $id (${PHOENIX_GUEST_NAME:-unnamed})"
mkdir -p "$dir" /opt/phoenix/services /usr/local/bin
cat > /usr/local/bin/docker-demo <<'TOOL'
#!/bin/sh
# docker-demo ps: lists registered services (name, port, up/down).
unset http_proxy HTTP_PROXY
for f in /opt/phoenix/services/*; do
  [ -f "$f" ] || continue
  port=$(sed -n 's/^port=//p' "$f")
  state=down
  wget -q -O /dev/null "http://127.0.0.1:$port/" 2>/dev/null && state=up
  echo "$(basename "$f") port=$port $state"
done
TOOL
chmod +x /usr/local/bin/docker-demo
echo "version=1" > "$dir/version"
echo "docker: recorded $dir/version, installed /usr/local/bin/docker-demo"
