#!/bin/sh
# Health check: http_ok.sh HOST PORT. Succeeds as soon as http://HOST:PORT/ answers
# with busybox wget; tries up to 10 times, 1 s apart, and fails if it never does.
set -eu
host=${1:?usage: http_ok.sh HOST PORT}
port=${2:?usage: http_ok.sh HOST PORT}
unset http_proxy HTTP_PROXY
i=1
while :; do
  if wget -q -O /dev/null "http://$host:$port/" 2>/dev/null; then
    echo "http_ok: http://$host:$port/ answered (try $i)"
    exit 0
  fi
  if [ "$i" -ge 10 ]; then
    echo "http_ok: http://$host:$port/ did not answer after $i tries" >&2
    exit 1
  fi
  i=$((i + 1))
  sleep 1
done
