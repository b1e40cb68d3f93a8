#!/bin/sh
# Feature nvidia (containers): looks for GPU devices passed into the container and
# records what it found under /opt/phoenix/nvidia. Installs no driver. With
# gpu_assignment "none" and no /dev/nvidia* (the demo) it records gpu=none and
# succeeds; a GPU that is assigned but missing is an error.
set -eu
id=${1:?usage: nvidia.sh GUEST_ID [CA_URL]}
dir=/opt/phoenix/nvidia
json=$(tr -d '\n\r' < "${PHOENIX_GUEST_JSON:?PHOENIX_GUEST_JSON is not set}")
field() { printf '%s' "$json" | sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'; }
assigned=$(field gpu_assignment)
driver=$(field nvidia_driver_version)
devs=$(ls /dev/nvidia[0-9]* 2>/dev/null || true)
mkdir -p "$dir" /usr/local/bin
if [ -n "$devs" ]; then
  gpu=$(echo $devs | tr ' ' ',')
  echo "nvidia: guest $id sees GPU devices: $gpu"
elif [ -z "$assigned" ] || [ "$assigned" = none ]; then
  gpu=none
  echo "nvidia: guest $id has no GPU (gpu_assignment=${assigned:-none}); recording gpu=none"
else
  echo "nvidia: gpu_assignment is '$assigned' but no /dev/nvidia* in guest $id" >&2
  exit 1
fi
printf 'version=1\ngpu=%s\nexpected_driver=%s\n' "$gpu" "${driver:-unspecified}" > "$dir/version"
cat > /usr/local/bin/nvidia-demo-smi <<'TOOL'
#!/bin/sh
# nvidia-demo-smi: prints what the nvidia layer found (the demo's nvidia-smi).
cat /opt/phoenix/nvidia/version
TOOL
chmod +x /usr/local/bin/nvidia-demo-smi
echo "nvidia: recorded $dir/version, installed /usr/local/bin/nvidia-demo-smi"
