#!/bin/sh
# Feature vllm (containers): the demo's stand-in for vLLM. Needs the nvidia layer
# below it (clone from tmpl-gpu). Installs /usr/local/bin/vllm-demo, which prints
# an OpenAI-style model list for a model name; records /opt/phoenix/vllm.
set -eu
id=${1:?usage: vllm.sh GUEST_ID [CA_URL]}
dir=/opt/phoenix/vllm
if [ ! -f /opt/phoenix/nvidia/version ]; then
  echo "vllm: guest $id lacks the nvidia layer (/opt/phoenix/nvidia)" >&2
  exit 1
fi
echo "vllm: guest $id, GPU layer: $(sed -n 's/^gpu=//p' /opt/phoenix/nvidia/version)"
mkdir -p "$dir" /usr/local/bin
cat > /usr/local/bin/vllm-demo <<'TOOL'
#!/bin/sh
# vllm-demo MODEL [MAX_MODEL_LEN]: prints the model list the demo server serves.
set -eu
printf '{"object":"list","data":[{"id":"%s","object":"model","owned_by":"phoenix-demo","max_model_len":%s}]}\n' \
  "${1:?usage: vllm-demo MODEL [MAX_MODEL_LEN]}" "${2:-2048}"
TOOL
chmod +x /usr/local/bin/vllm-demo
echo "version=1" > "$dir/version"
echo "vllm: recorded $dir/version, installed /usr/local/bin/vllm-demo"
