"""Guest operations that both stand-ins need beyond pve_guests.py: creating a
guest, the status commands, deleting a snapshot, the guest agent of a VM, and the
reads the API returns as data rather than text (pending changes, snapshots,
current status).

The CLI entry script (pve-standin.py) still does create, stop and delsnapshot
inline with the same rules; it can call these instead. Each refusal names the
Proxmox function it comes from.
"""
import base64

import pve_cluster
import pve_guests
from pve_model import die, section, storage_type

# Parameters of POST /nodes/{node}/lxc and /qemu that steer the creation and are
# not written to the config (pve-container src/PVE/API2/LXC.pm create_vm and
# qemu-server src/PVE/API2/Qemu.pm create_vm extract them first).
CREATE_ONLY = {"node", "vmid", "ostemplate", "password", "ssh-public-keys", "start", "unique", "restore",
               "force", "ignore-unpack-errors", "pool", "bwlimit", "storage", "archive", "live-restore",
               "ha-managed"}


def create(c, gid, kind, opts, node):
    """POST /nodes/{node}/lxc|qemu (`pct create`/`qm create`): a stopped guest on
    `node` with the given options; a container's root disk defaults to
    `<storage>:4` (API2/LXC.pm create_vm) and it gets the OS and defaults of
    pve_guests.created_ct; `start 1` starts it once created."""
    pve_cluster.check_vmid_unused(c.G, gid)
    g = {"type": kind, "status": "stopped", "config": {}, "snapshots": [], "files": {}, "node": node}
    conf = {k: v for k, v in opts.items() if k not in CREATE_ONLY}
    storage = opts.get("storage", "local")
    if kind == "lxc":
        template = opts.get("ostemplate", "")
        if ":" in template:
            storage_type(c.S, template.split(":")[0], node)
        conf.setdefault("rootfs", f"{storage}:4")
        storage_type(c.S, storage, node)
    pve_guests.update(c, gid, g, conf, [], creating=True)
    if kind == "lxc":
        pve_guests.created_ct(gid, g, opts.get("ostemplate", ""), opts)
    c.G[gid] = g
    return g


def status_prefork(kind, action, gid, g):
    """What the status endpoints refuse before their task starts
    (pve-container src/PVE/API2/LXC/Status.pm vm_start "CT $vmid already
    running", vm_stop and vm_shutdown "CT $vmid not running", vm_reboot
    "VM $vmid not running"; qemu-server src/PVE/API2/Qemu.pm vm_reboot
    "VM $vmid not running"; qemu-server's start and stop check in their task)."""
    running = g["status"] == "running"
    if kind == "lxc" and action == "start" and running:
        die(f"CT {gid} already running")
    if kind == "lxc" and action in ("stop", "shutdown") and not running:
        die(f"CT {gid} not running")
    if action == "reboot" and not running:
        die(f"VM {gid} not running")


def stop(c, gid, g, action):
    """stop, shutdown or reboot (a reboot is a stop and a start: pending changes
    apply). pve-container Status.pm vm_stop, vm_shutdown ("CT $vmid not
    running") and vm_reboot ("VM $vmid not running"); qemu-server API2/Qemu.pm
    vm_stop and vm_reboot refuse a stopped VM, vm_shutdown does not."""
    kind = g["type"]
    if g["status"] != "running" and not (kind == "qemu" and action == "shutdown"):
        die(f"VM {gid} not running" if kind == "qemu" or action == "reboot" else f"CT {gid} not running")
    g["status"] = "stopped"
    if action == "reboot":
        pve_guests.start(c, gid, g)


def delsnapshot(g, name):
    # pve-guest-common src/PVE/AbstractConfig.pm snapshot_delete.
    if g.get("template"):
        die("you can't delete a snapshot if vm is a template")
    if name not in g.get("snapshots", []):
        die(f"snapshot '{name}' does not exist")
    g["snapshots"].remove(name)
    g.get("snapconf", {}).pop(name, None)


def pending(g):
    """GET .../pending: pve-guest-common src/PVE/GuestHelpers.pm
    config_with_pending_array (`delete` 1 for a pending deletion)."""
    conf, pend, pdel = g["config"], g.get("pending", {}), g.get("pending_delete", [])
    out = []
    for k in sorted(conf):
        item = {"key": k, "value": conf[k]}
        if k in pend:
            item["pending"] = pend[k]
        if k in pdel:
            item["delete"] = 1
        out.append(item)
    out += [{"key": k, "pending": v} for k, v in sorted(pend.items()) if k not in conf]
    out += [{"key": k, "delete": 1} for k in pdel if k not in conf]
    return out


def snapshots(g):
    """GET .../snapshot (pve-container src/PVE/API2/LXC/Snapshot.pm list,
    qemu-server the same): each snapshot with its parent, then `current`."""
    out, parent = [], None
    for i, name in enumerate(g.get("snapshots", [])):
        e = {"name": name, "description": "", "snaptime": 1764547200 + i}
        if parent:
            e["parent"] = parent
        out.append(e)
        parent = name
    cur = {"name": "current", "description": "You are here!", "running": int(g["status"] == "running")}
    if parent:
        cur["parent"] = parent
    return out + [cur]


def snapshot_config(g, name):
    conf, _ = pve_guests.snapshot_config(g, name)
    return conf


def current_status(gid, g):
    """GET .../status/current (pve-container PVE::LXC::vmstatus, qemu-server
    PVE::QemuServer::vmstatus): the fields a client reads."""
    kind, conf = g["type"], g["config"]
    running = g["status"] == "running"
    mem = pve_cluster.memory_bytes(g)
    out = {"vmid": int(gid), "status": g["status"], "name": conf.get("hostname" if kind == "lxc" else "name", ""),
           "maxmem": mem, "mem": mem // 4 if running else 0, "cpus": int(conf.get("cores", 1)),
           "uptime": 3600 if running else 0, "maxdisk": pve_cluster.root_disk(g), "disk": 0,
           "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0, "ha": {"managed": 0}}
    if kind == "lxc":
        out.update(type="lxc", maxswap=int(conf.get("swap", 512)) * 1024 * 1024)
    else:
        out.update(qmpstatus=g["status"])
        if conf.get("agent") is not None:
            out["agent"] = int(conf["agent"].split(",")[0].replace("enabled=", "") == "1")
    for k in ("lock", "tags"):
        if k in conf:
            out[k] = conf[k]
    if g.get("template"):
        out["template"] = 1
    return out


def agent_ready(gid, g):
    # qemu-server src/PVE/QemuServer/Agent.pm assert_agent_available, in its
    # order; the stand-in's agent answers whenever it is enabled and the VM runs.
    agent = g["config"].get("agent")
    if agent is None:
        die("No QEMU guest agent configured")
    if g["status"] != "running":
        die(f"VM {gid} is not running")
    if agent.split(",")[0] in ("0", "enabled=0"):
        die("QEMU guest agent is not running")


def agent_exec(S, gid, g, command, input_data, bad):
    """POST .../agent/exec (qemu-server src/PVE/API2/Qemu/Agent.pm exec): runs
    `command` as the CLI stand-in's `qm guest exec` does and keeps the result for
    exec-status; returns the pid. Input goes to the file named last (how phoenix
    writes a file through `cat > FILE`); a detached `sh -c '...echo $? > EXIT'
    sh JOB LOG EXIT CMD...` writes its log and exit files (exit codes for
    `cloud-init` from `cloud_init` in the state); `cat`/`tail` read a file."""
    agent_ready(gid, g)
    files = g.setdefault("files", {})
    reply = {"exited": 1, "exitcode": 0, "out-data": ""}
    cmd = list(command)
    if input_data is not None:
        files[cmd[-1]] = input_data
    elif cmd[0] == "/bin/sh" and len(cmd) > 6 and "echo $? >" in cmd[4]:
        # Detached: sh -c START sh JOB <log> <exit file> <command...>
        log_file, exit_file, inner = cmd[5], cmd[6], cmd[7:]
        if '"$@"' not in cmd[4]:
            bad("a detached command must run its arguments, not a script built from them")
        codes = S.get("cloud_init", {}).get(gid, [])
        code = codes.pop(0) if inner[:1] == ["cloud-init"] and codes else 0
        files[exit_file] = f"{code}\n"
        files[log_file] = "ran " + " ".join(inner) + "\n"
    elif cmd[0] in ("cat", "tail"):
        f = cmd[-1]
        if f in files:
            reply["out-data"] = files[f]
        else:
            reply.update(exitcode=1, **{"err-data": f"cat: {f}: No such file or directory"})
    runs = g.setdefault("agent_runs", {})
    pid = max([int(p) for p in runs] + [1000]) + 1
    runs[str(pid)] = reply
    return {"pid": pid}


def agent_exec_status(gid, g, pid):
    """GET .../agent/exec-status (Agent.pm exec_status): the finished command's
    result; an unknown pid is the agent's error."""
    agent_ready(gid, g)
    reply = g.get("agent_runs", {}).pop(str(pid), None)
    if reply is None:
        die(f"Agent error: PID {pid} does not exist")
    return reply


def agent_file_write(gid, g, path, content, encode="1"):
    """POST .../agent/file-write (Agent.pm file_write): `encode 1` (the
    default) means the API base64-encodes the plain `content` for the agent;
    `encode 0` means `content` is base64 already."""
    agent_ready(gid, g)
    if encode == "0":
        try:
            content = base64.b64decode(content, validate=True).decode()
        except ValueError:
            die("Agent error: Invalid base64 content")
    g.setdefault("files", {})[path] = content


def config_text(g):
    """The config file's main section (for a digest)."""
    return section(g["config"], g.get("raw", []))
