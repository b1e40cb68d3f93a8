#!/bin/bash
# A stand-in tool of a test's pve host: the command goes to the host's stand-in
# server (standin-server.py), which runs pve-standin.py for it in a forked process;
# with no server to answer, the stand-in runs directly. `stage()` writes one copy
# per tool, with SERVER_DIR and TOOL filled in.
srv=SERVER_DIR
tool=TOOL
in=
for a; do
  if [ "$a" = --pass-stdin ]; then
    in="$srv/req/$$.in"
    cat >"$in"
    break
  fi
done
if read -r port token 2>/dev/null <"$srv/addr" && { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
  {
    printf '%s\0' "$token" "$0" "$PWD" "$$" "$in" "$#" "$@"
    for n in $(compgen -e); do printf '%s=%s\0' "$n" "${!n}"; done
    printf '\0'
  } >&3
  read -r code out err <&3
  if [ "$code" != refused ]; then
    if [ -z "$code" ]; then
      echo "$tool: the stand-in server ($srv) gave no answer; see $srv/server.log" >&2
      exit 1
    fi
    if [ "$out" = 1 ]; then cat "$srv/req/$$.out"; fi
    if [ "$err" = 1 ]; then cat "$srv/req/$$.err" >&2; fi
    if [ "$out$err" != 00 ]; then rm -f "$srv/req/$$.out" "$srv/req/$$.err"; fi
    exit "$code"
  fi
  exec 3>&-
fi
if [ -n "$in" ]; then
  exec <"$in"
  rm -f "$in"
fi
exec "$srv/direct/$tool" "$@"
