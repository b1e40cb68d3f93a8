#!/bin/sh
# App for vllm-demo: reads vllm_engine_config (ModelConfig.model, max_model_len,
# ServerConfig.port) from the guest JSON and serves the model list with busybox
# httpd at / and /v1/models. Rewrites the list on every run; starts httpd only if
# nothing answers on the port yet. $1 = guest ID.
set -eu
id=${1:?usage: vllm_server.sh GUEST_ID}
json=$(tr -d '\n\r' < "${PHOENIX_GUEST_JSON:?PHOENIX_GUEST_JSON is not set}")
# obj NAME: the body of a flat JSON object; val TEXT KEY: a string or number in it.
obj() { printf '%s' "$json" | sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*{\([^{}]*\)}.*/\1/p'; }
val() { printf '%s' "$1" | sed -n 's/.*"'"$2"'"[[:space:]]*:[[:space:]]*"\{0,1\}\([^",}[:space:]]*\).*/\1/p'; }
model=$(val "$(obj ModelConfig)" model)
max_len=$(val "$(obj ModelConfig)" max_model_len)
port=$(val "$(obj ServerConfig)" port)
[ -n "$model" ] || { echo "vllm_server: no vllm_engine_config.ModelConfig.model" >&2; exit 1; }
port=${port:-8000}
root=/srv/vllm
mkdir -p "$root/v1" /opt/phoenix/services
/usr/local/bin/vllm-demo "$model" "${max_len:-2048}" > "$root/v1/models"
cp "$root/v1/models" "$root/index.html"
echo "port=$port" > /opt/phoenix/services/vllm
echo "vllm_server: guest $id serves model $model (max_model_len ${max_len:-2048})"
unset http_proxy HTTP_PROXY
# The container's init starts it again after a restart (rcS runs /etc/phoenix/boot.d/*).
mkdir -p /etc/phoenix/boot.d
printf '#!/bin/sh\nhttpd -p %s -h %s\n' "$port" "$root" > /etc/phoenix/boot.d/vllm_server
if wget -q -O /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
  echo "vllm_server: already listening on port $port"
else
  httpd -p "$port" -h "$root"
  echo "vllm_server: started httpd on port $port"
fi
