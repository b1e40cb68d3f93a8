#!/usr/bin/python3 -S
"""A test double for `ssh` to the nodes of the API stand-in's cluster.

    node-ssh.py STATE_DIR SCHEMA TOOLS_DIR -- [ssh options] [USER@]HOST [--] COMMAND...

The tests install it as `ssh` (a wrapper that passes the first three arguments;
`ApiStandIn::ssh_bin`). It takes the options phoenix gives ssh (`-F CONFIG -o
BatchMode=yes -p PORT`, and the rest of OpenSSH's, which it ignores), appends
`{"destination", "node", "command"}` to STATE_DIR/ssh.log, and then:

- HOST must be a node of the cluster (its `ip` in state.json's `nodes`, or its
  name): any other host, or a node listed in STATE_DIR/down (the API stand-in's
  fault file), fails as ssh does when it cannot connect: exit 255, `ssh:
  connect to host HOST port PORT: No route to host`.
- Otherwise COMMAND (its words joined by spaces, as ssh sends them to the remote
  shell) runs under `sh -c` on this machine, stdin passed through, its exit
  status ssh's, in a login's environment (none of the caller's), with the
  node's tools first on PATH: TOOLS_DIR holds the CLI
  stand-in (`pct`, `qm`, `pvesh`, ...) and an `apt-get` that refuses. They work
  on the cluster's state: PHOENIX_STANDIN_DIR=STATE_DIR, PHOENIX_STANDIN_SCHEMA,
  PHOENIX_PVE_ROOT=STATE_DIR/root, and PHOENIX_STANDIN_NODE the node's name.
  The working directory and HOME are STATE_DIR/root.
"""
import json
import os
import sys

# OpenSSH's options that take an argument (ssh.c getopt string).
WITH_ARG = set("BbcDEeFIiJLlmOoPpQRSWw")


def parse(args):
    """(port, destination, command words) from ssh's arguments."""
    port, dest, i = "22", None, 0
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            if dest is None and i < len(args):
                dest, i = args[i], i + 1
            break
        if a.startswith("-") and len(a) > 1:
            flag, value = a[1], a[2:]
            if flag in WITH_ARG and not value:
                i += 1
                value = args[i] if i < len(args) else ""
            if flag == "p":
                port = value
            i += 1
            continue
        if dest is not None:
            break
        dest, i = a, i + 1
    return port, dest, args[i:]


def main():
    state_dir, schema, tools, sep, *args = sys.argv[1:]
    if sep != "--":
        sys.exit("usage: node-ssh.py STATE_DIR SCHEMA TOOLS_DIR -- SSH-ARGS...")
    port, dest, words = parse(args)
    if not dest:
        sys.stderr.write("usage: ssh [options] destination [command]\n")
        sys.exit(255)
    host = dest.rsplit("@", 1)[-1]
    command = " ".join(words)
    try:
        nodes = json.load(open(os.path.join(state_dir, "state.json"))).get("nodes", {})
    except FileNotFoundError:
        nodes = {}
    node = next((n for n, v in nodes.items() if host in (n, v.get("ip"))), None)
    try:
        down = {l.split()[0] for l in open(os.path.join(state_dir, "down")) if l.strip()}
    except FileNotFoundError:
        down = set()
    with open(os.path.join(state_dir, "ssh.log"), "a") as f:
        f.write(json.dumps({"destination": dest, "node": node, "command": command}) + "\n")
    if node is None or node in down:
        sys.stderr.write(f"ssh: connect to host {host} port {port}: No route to host\n")
        sys.exit(255)
    if not command:
        sys.stderr.write("Pseudo-terminal will not be allocated because stdin is not a terminal.\n")
        sys.exit(255)
    root = os.path.join(state_dir, "root")
    os.makedirs(root, exist_ok=True)
    # A login's environment on the node, not the caller's (ssh passes none of it).
    env = {"PATH": tools + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": root, "USER": "root", "LOGNAME": "root", "SHELL": "/bin/sh", "LANG": "C.UTF-8",
           "PHOENIX_STANDIN_DIR": state_dir, "PHOENIX_STANDIN_SCHEMA": schema,
           "PHOENIX_PVE_ROOT": root, "PHOENIX_STANDIN_NODE": node}
    os.chdir(root)
    sys.stdout.flush()
    os.execve("/bin/sh", ["sh", "-c", command], env)


if __name__ == "__main__":
    main()
