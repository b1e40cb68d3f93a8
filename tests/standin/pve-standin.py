#!/usr/bin/python3 -S
# The system interpreter, named directly and without site packages: through a
# version manager's shim (`env python3` finding pyenv's) every call took ~10x as long.
"""Stand-in for Proxmox's `pct`, `qm` and `pvesh`, for tests without a Proxmox host.

Installed on PATH under those three names (symlinks to this file). Every command line
is checked strictly against the Proxmox API schema (an implementation independent of
phoenix's own checker): unknown options, wrong types, out-of-range numbers, unknown
property-string keys and invalid enum values fail the command with exit 2, as Proxmox
would, and are also appended to `violations.log` so a test can assert there are none.
Guests, their config, snapshots and tags live in `state.json` in $PHOENIX_STANDIN_DIR;
so do the host's disks (`disks`: path -> signature types), ZFS pools and datasets,
and Proxmox storages, for the stand-in `zpool`, `zfs`, `wipefs`, `pvesm`, `exportfs`
and `showmount` (which read `/etc/exports` under $PHOENIX_PVE_ROOT).
every accepted command is appended to `commands.log` as a JSON array (its argv). A file `fail` in that directory
holds `<substring> <times>` lines: the next <times> commands containing <substring>
fail (exit 1 with "CT is locked" when the substring starts with `lock:`).

On a node of the API stand-in's cluster (node-ssh.py runs it there) the state is
the cluster's and $PHOENIX_STANDIN_NODE names the node it runs on: a guest on
another node is not here (see `guest`), and a guest it creates is on this node.
The state is read and written under a flock on `.lock`, which the API stand-in
takes too (pve_state.py).

`pct exec` runs nothing, unless the state directory has a file `guest-exec`:
then a command that runs a file pushed into the guest (`[env K=V...] [timeout
[-k N] SECS] [INTERPRETER] FILE ARGS...`, as phoenix runs a feature's script)
runs for real on this machine, the file at a temporary path, stdin and output
passed through, and its exit status is `pct exec`'s. Any other command (`mkdir
-p`, the readiness probe `/bin/sh -c true`) stays a no-op: nothing a test did
not write itself runs here.
"""
import fcntl, json, os, re, sys, types

# The modules next to the script (it runs through symlinks named after the tools).
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import pve_conf, pve_firewall, pve_guest_exec, pve_guest_ops, pve_guests, pve_host, pve_schema  # noqa: E402
from pve_model import NODE, die, section  # noqa: E402

D = os.environ["PHOENIX_STANDIN_DIR"]
# The node this runs on: a cluster node's name, or the single host's.
LOCAL = os.environ.get("PHOENIX_STANDIN_NODE") or NODE
SCHEMA = pve_schema.load(D)
tool = os.path.basename(sys.argv[0])
argv = sys.argv[1:]
line = " ".join([tool] + argv)


def find(nodes, path):
    for n in nodes:
        if n.get("path") == path:
            return n
        r = find(n.get("children", []), path)
        if r:
            return r


def params(path, method):
    n = find(SCHEMA, path)
    return n and n.get("info", {}).get(method, {}).get("parameters", {}).get("properties")


def bad(msg):
    with open(os.path.join(D, "violations.log"), "a") as f:
        f.write(f"{line}: {msg}\n")
    die(f"400 Parameter verification failed: {msg}", 2)


def check(name, value, d):
    fmt = d.get("format")
    if isinstance(fmt, dict):
        keys = set()
        default = [k for k, v in fmt.items() if v.get("default_key")]
        for i, part in enumerate(value.split(",")):
            if "=" in part:
                k, v = part.split("=", 1)
            elif i == 0 and default:
                k, v = default[0], part
            else:
                bad(f"{name}: '{part}' has no key")
            if k not in fmt:
                bad(f"{name}: unknown key '{k}'")
            keys.add(k)
            check(f"{name}.{k}", v, fmt[k])
        for k, v in fmt.items():
            if not v.get("optional") and not v.get("default_key") and not v.get("alias") and k not in keys:
                bad(f"{name}: missing required key '{k}'")
        return
    t = d.get("type", "string")
    if t == "integer":
        if not re.fullmatch(r"-?\d+", value):
            bad(f"{name}: '{value}' is not an integer")
        n = int(value)
        if "minimum" in d and n < d["minimum"] or "maximum" in d and n > d["maximum"]:
            bad(f"{name}: {n} out of range")
    elif t == "boolean":
        if value not in ("0", "1"):
            bad(f"{name}: '{value}' is not 0 or 1")
    elif t == "number":
        try:
            float(value)
        except ValueError:
            bad(f"{name}: '{value}' is not a number")
    elif "enum" in d and value not in d["enum"]:
        bad(f"{name}: '{value}' not in {d['enum']}")
    else:
        # pve-common JSONSchema.pm check_type/check_format: a string's length and,
        # for the formats pve_schema.FORMATS knows, its verifier.
        if "maxLength" in d and len(value) > d["maxLength"]:
            bad(f"{name}: value may only be {d['maxLength']} characters long")
        why = pve_schema.FORMATS.get(fmt, lambda v: None)(value) if isinstance(fmt, str) else None
        if why:
            bad(f"{name}: {why}")


def check_opts(props, rest, skip=()):
    opts = {}
    i = 0
    while i < len(rest):
        if not rest[i].startswith("--") or i + 1 >= len(rest):
            bad(f"unexpected argument '{rest[i]}'")
        name, value = rest[i][2:], rest[i + 1]
        key = name if name in props else re.sub(r"\d+$", "", name) + "[n]"
        if key not in props or name in skip:
            bad(f"unknown option --{name}")
        check(name, value, props[key])
        opts[name] = value
        i += 2
    return opts


KIND = {"pct": "lxc", "qm": "qemu"}


HOST_TOOLS = ("zpool", "zfs", "wipefs", "pvesm", "exportfs", "showmount", "curl", "virt-customize",
              "nvidia-modprobe")


def validate():
    """Check the command against the schema; return (subcommand, positional, options)."""
    if tool == "pvesm":
        sub, rest = argv[0], argv[1:]
        if sub == "add":
            props = params("/storage", "POST")
            for n, v in zip(["type", "storage"], rest[:2]):
                check(n, v, props[n])
            return sub, rest[:2], check_opts(props, rest[2:], ["type", "storage"])
        if sub == "list":
            return sub, rest[:1], {}
        if sub in ("set", "remove"):
            props = params("/storage/{storage}", "PUT" if sub == "set" else "DELETE")
            check("storage", rest[0], props["storage"])
            return sub, rest[:1], check_opts(props, rest[1:], ["storage"])
        bad(f"'pvesm {sub}' is not a command phoenix should run")
    if tool in HOST_TOOLS:
        return argv[0] if argv else "", argv[1:], {}
    if tool == "pvesh":
        verb, path, rest = argv[0], argv[1], argv[2:]
        if rest[-2:] in (["--output-format", "json"],):
            rest = rest[:-2]
        method = {"get": "GET", "set": "PUT", "create": "POST", "delete": "DELETE"}[verb]
        pattern = re.sub(r"/nodes/[^/]+", "/nodes/{node}", path)
        pattern = re.sub(r"/(lxc|qemu)/\d+", r"/\1/{vmid}", pattern)
        pattern = re.sub(r"/rules/\d+$", "/rules/{pos}", pattern)
        props = params(pattern, method)
        if props is None:
            bad(f"no endpoint {method} {pattern}")
        return verb, [path], check_opts(props, rest)
    sub, rest = argv[0], argv[1:]
    base = "/nodes/{node}/" + KIND[tool]
    table = {
        "create": (base, "POST", ["vmid", "ostemplate"] if tool == "pct" else ["vmid"]),
        "set": (base + "/{vmid}/config", "PUT" if tool == "pct" else "POST", ["vmid"]),
        "clone": (base + "/{vmid}/clone", "POST", ["vmid", "newid"]),
        "start": (base + "/{vmid}/status/start", "POST", ["vmid"]),
        "stop": (base + "/{vmid}/status/stop", "POST", ["vmid"]),
        "shutdown": (base + "/{vmid}/status/shutdown", "POST", ["vmid"]),
        "reboot": (base + "/{vmid}/status/reboot", "POST", ["vmid"]),
        "snapshot": (base + "/{vmid}/snapshot", "POST", ["vmid", "snapname"]),
        "delsnapshot": (base + "/{vmid}/snapshot/{snapname}", "DELETE", ["vmid", "snapname"]),
        "rollback": (base + "/{vmid}/snapshot/{snapname}/rollback", "POST", ["vmid", "snapname"]),
        "resize": (base + "/{vmid}/resize", "PUT", ["vmid", "disk", "size"]),
        "destroy": (base + "/{vmid}", "DELETE", ["vmid"]),
        "template": (base + "/{vmid}/template", "POST", ["vmid"]),
    }
    if sub in ("exec", "push", "config", "pending", "status", "listsnapshot", "agent", "cloudinit", "guest"):
        return sub, rest, {}
    if sub not in table:
        bad(f"'{tool} {sub}' is not a command")
    path, method, pos = table[sub]
    props = params(path, method) or bad(f"no endpoint {method} {path}")
    values = rest[: len(pos)]
    for n, v in zip(pos, values):
        if n in props:
            check(n, v, props[n])
    return sub, values, check_opts(props, rest[len(pos):], pos)


sub, pos, opts = validate()
lock = open(os.path.join(D, ".lock"), "a")
fcntl.flock(lock, fcntl.LOCK_EX)
state_path = os.path.join(D, "state.json")
S = json.load(open(state_path)) if os.path.exists(state_path) else {"guests": {}}
G = S["guests"]
# Containers' config files, as Proxmox keeps them: the main section (settings and
# raw `lxc.*` lines, which phoenix edits in the file itself), then one section per
# snapshot with the main section as it was when the snapshot was taken.
ROOT = os.environ.get("PHOENIX_PVE_ROOT")


def pve_guests_exec(g, gid):
    """qm guest exec <id> [--pass-stdin 1] -- cmd...: a JSON reply like the agent's."""
    cmd = pos[pos.index("--") + 1:]
    reply = {"exited": 1, "exitcode": 0, "out-data": ""}
    if "--pass-stdin" in pos:
        g["files"][cmd[-1]] = sys.stdin.read()
    elif cmd[0] == "/bin/sh" and len(cmd) > 6 and "echo $? >" in cmd[4]:
        # Detached: sh -c START sh JOB <log> <exit file> <command...>
        log_file, exit_file, inner = cmd[5], cmd[6], cmd[7:]
        if '"$@"' not in cmd[4]:
            bad("a detached command must run its arguments, not a script built from them")
        # Exit codes for cloud-init waits, per guest, from `cloud_init` in the state.
        codes = S.get("cloud_init", {}).get(gid, [])
        code = codes.pop(0) if inner[:1] == ["cloud-init"] and codes else 0
        g["files"][exit_file] = f"{code}\n"
        g["files"][log_file] = "ran " + " ".join(inner) + "\n"
    elif cmd[0] in ("cat", "tail"):
        f = cmd[-1]
        if f in g["files"]:
            reply["out-data"] = g["files"][f]
        else:
            reply.update(exitcode=1, **{"err-data": f"cat: {f}: No such file or directory"})
    return json.dumps(reply)


# Every container's file as read: `save` rewrites only those whose text changes.
FILES = {}
if ROOT is not None:
    for i, g in G.items():
        FILES[i] = pve_conf.read_raw(ROOT, i, g)

fail_path = os.path.join(D, "fail")
if os.path.exists(fail_path):
    rules = [l.strip().rsplit(None, 1) for l in open(fail_path) if l.strip()]
    for r in rules:
        pat = r[0]
        if int(r[1]) > 0 and pat.split(":", 1)[-1] in line:
            r[1] = str(int(r[1]) - 1)
            open(fail_path, "w").write("".join(f"{a} {b}\n" for a, b in rules))
            die("CT is locked (snapshot)" if pat.startswith("lock:") else f"injected failure: {line}")

with open(os.path.join(D, "commands.log"), "a") as f:
    f.write(json.dumps([tool] + argv) + "\n")


def save():
    # Compact: with an indent json takes its pure-Python encoder, ten times slower.
    with open(state_path + ".tmp", "w") as f:
        f.write(json.dumps(S))
    os.replace(state_path + ".tmp", state_path)
    if ROOT is not None:
        pve_conf.write_all(ROOT, G, FILES)


def here(g):
    """Whether guest `g` is on this node (a guest without `node` is the single host's)."""
    return g.get("node", LOCAL) == LOCAL


def guest(i):
    # pve-guest-common src/PVE/AbstractConfig.pm load_config reads
    # `nodes/<this node>/lxc/<id>.conf` (pve-container src/PVE/LXC/Config.pm
    # cfs_config_path): a guest on another node has no config file here.
    g = G.get(str(i))
    if g is None or g["type"] != KIND[tool] or not here(g):
        die(f"Configuration file 'nodes/{LOCAL}/{'lxc' if tool == 'pct' else 'qemu-server'}/{i}.conf' does not exist")
    g.setdefault("snapshots", [])
    g.setdefault("files", {})
    return g


c = types.SimpleNamespace(S=S, G=G, tool=tool, sub=sub, pos=pos, opts=opts, argv=argv, bad=bad, line=line,
                          node=LOCAL)
out = ""
run_after = None
if tool == "pvesh":
    try:
        out = pve_firewall.run(c)
    except pve_firewall.ParamError as e:
        # pvesh prints a parameter exception's message, then each parameter's error.
        die("400 Parameter verification failed.\n" + "\n".join(f"{k}: {v}" for k, v in e.errors.items()), 2)
elif tool in HOST_TOOLS:
    out = pve_host.run(c)
elif sub == "create":
    gid = pos[0]
    if gid in G:
        # pve-cluster src/PVE/Cluster.pm check_vmid_unused (pct and qm create_vm).
        die(f"{'CT' if tool == 'pct' else 'VM'} {gid} already exists on node '{G[gid].get('node', LOCAL)}'")
    g = {"type": KIND[tool], "status": "stopped", "config": {}, "snapshots": [], "files": {}}
    if "PHOENIX_STANDIN_NODE" in os.environ:
        g["node"] = LOCAL
    create = dict(opts)
    storage = create.pop("storage", "local")
    if tool == "pct":
        # API2/LXC.pm create_vm: without --rootfs the root disk is `<storage>:4`.
        create.setdefault("rootfs", f"{storage}:4")
        pve_guests.storage_type(S, storage)
    pve_guests.update(c, gid, g, create, [], creating=True)
    if tool == "pct":
        pve_guests.created_ct(gid, g, pos[1], opts)
    G[gid] = g
elif sub == "clone":
    pve_guests.clone(c, pos[0], guest(pos[0]), pos[1])
elif sub == "set":
    g = guest(pos[0])
    disk = opts.get("scsi0", "")
    if "import-from=" in disk:
        src = disk.split("import-from=")[1].split(",")[0]
        if not os.path.isfile(src):
            die(f"import-from: {src}: No such file")
    changes = {k: v for k, v in opts.items() if k not in ("delete", "digest", "revert", "force")}
    pve_guests.update(c, pos[0], g, changes, opts.get("delete", "").replace(",", " ").split())
elif sub == "start":
    pve_guests.start(c, pos[0], guest(pos[0]))
elif sub in ("stop", "shutdown", "reboot"):
    g = guest(pos[0])
    # pve-container API2/LXC/Status.pm vm_stop, vm_shutdown ("CT $vmid not running")
    # and vm_reboot ("VM $vmid not running"); qemu-server API2/Qemu.pm vm_stop and
    # vm_reboot refuse a stopped VM, vm_shutdown does not.
    if g["status"] != "running" and not (tool == "qm" and sub == "shutdown"):
        die(f"VM {pos[0]} not running" if tool == "qm" or sub == "reboot" else f"CT {pos[0]} not running")
    # A guest marked `ignores_shutdown` in the state outlasts any --timeout:
    # pve-container PVE::LXC::vm_stop and qemu-server _do_vm_stop fail it and
    # leave it running, unless --forceStop 1 (which kills it).
    if sub == "shutdown" and g.get("ignores_shutdown") and g["status"] == "running" and opts.get("forceStop") != "1":
        die("container did not stop" if tool == "pct" else "VM quit/powerdown failed - got timeout")
    g["status"] = "stopped"
    if sub == "reboot":
        pve_guests.start(c, pos[0], g)  # a reboot is a stop and a start: pending applies
elif sub == "status":
    out = "status: " + guest(pos[0])["status"]
elif sub == "config":
    g = guest(pos[0])
    rest = dict(zip(pos[1::2], pos[2::2]))
    if rest.get("--snapshot"):
        conf, _ = pve_guests.snapshot_config(g, rest["--snapshot"])
    else:
        # PVE::AbstractConfig::load_current_config: pending merged unless --current.
        conf = g["config"] if rest.get("--current") == "1" else pve_guests.merged(g)
    out = section(pve_guests.printed(g, conf), g.get("raw", []) if not rest.get("--snapshot") else [])
elif sub == "pending":
    out = pve_guests.pending_lines(guest(pos[0]))
elif sub == "listsnapshot":
    out = "".join(f"`-> {s}  2026-11-27 00:00:00  snapshot\n" for s in guest(pos[0])["snapshots"]) + "`-> current  You are here!\n"
elif sub == "snapshot":
    pve_guests.snapshot(c, pos[0], guest(pos[0]), pos[1])
elif sub == "delsnapshot":
    g = guest(pos[0])
    # pve-guest-common AbstractConfig.pm snapshot_delete.
    if g.get("template"):
        die("you can't delete a snapshot if vm is a template")
    if pos[1] not in g["snapshots"]:
        die(f"snapshot '{pos[1]}' does not exist")
    g["snapshots"].remove(pos[1])
    g.get("snapconf", {}).pop(pos[1], None)
elif sub == "rollback":
    pve_guests.rollback(c, pos[0], guest(pos[0]), pos[1])
elif sub == "resize":
    pve_guests.resize(c, pos[0], guest(pos[0]), pos[1], pos[2])
elif sub == "destroy":
    pve_guests.destroy(c, pos[0], guest(pos[0]))
elif sub == "template":
    pve_guests.template(c, pos[0], guest(pos[0]))
elif sub == "push":
    # pve-container src/PVE/CLI/pct.pm push: PVE::LXC::check_running (this node's
    # running containers) before load_config, so a CT on another node is "not running".
    g = G.get(pos[0])
    if g is None or g["type"] != "lxc" or not here(g) or g["status"] != "running":
        die("can only push files to a running CT")
    g = guest(pos[0])
    # Bytes as they are (a file need not be UTF-8), kept in the JSON state.
    g["files"][pos[2]] = open(pos[1], "rb").read().decode("utf-8", "surrogateescape")
elif sub == "exec":
    g = guest(pos[0])  # pct.pm exec: load_config "test if container exists on this node"
    if g["status"] != "running":
        die(f"container '{pos[0]}' not running!")  # pve-container src/PVE/CLI/pct.pm exec
    if "--" not in pos:
        bad("pct exec without --")
    if os.path.exists(os.path.join(D, "guest-exec")):
        run_after = pve_guest_exec.pushed_command(g["files"], pos[pos.index("--") + 1:])
elif sub in ("agent", "guest"):
    # `qm agent` is an alias of `qm guest cmd` (qemu-server src/PVE/CLI/qm.pm).
    gid = pos[0] if sub == "agent" else pos[1]
    g = guest(gid)
    pve_guest_ops.agent_ready(gid, g)  # the API stand-in's check, the same rules
    if sub == "guest" and pos[0] == "exec":
        out = pve_guests_exec(g, gid)
elif sub == "cloudinit":
    pass
save()
sys.stdout.write(out)
if run_after:
    sys.stdout.flush()
    lock.close()  # the state is written: the API stand-in need not wait for the script
    sys.exit(pve_guest_exec.run(run_after, D))
