#!/usr/bin/env python3
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
"""
import fcntl, json, os, re, sys

D = os.environ["PHOENIX_STANDIN_DIR"]
def load_schema():
    # Parsing 1.2 MB of JSON on every call made the stand-ins slow: keep a pickle.
    import pickle
    src = os.environ["PHOENIX_STANDIN_SCHEMA"]
    cache = os.path.join(D, ".schema.pickle")
    try:
        if os.path.getmtime(cache) >= os.path.getmtime(src):
            return pickle.load(open(cache, "rb"))
    except OSError:
        pass
    data = json.load(open(src))
    with open(cache + f".{os.getpid()}", "wb") as f:
        pickle.dump(data, f)
    os.replace(cache + f".{os.getpid()}", cache)
    return data


SCHEMA = load_schema()
tool = os.path.basename(sys.argv[0])
argv = sys.argv[1:]
line = " ".join([tool] + argv)


def die(msg, code=1):
    sys.stderr.write(msg + "\n")
    sys.exit(code)


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


HOST_TOOLS = ("zpool", "zfs", "wipefs", "pvesm", "exportfs", "showmount", "curl", "virt-customize")


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
        if props is None and method in ((find(SCHEMA, pattern) or {}).get("info") or {}):
            props = {}  # an endpoint without parameters (GET /nodes)
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
    if sub in ("exec", "push", "config", "status", "listsnapshot", "agent", "cloudinit", "guest", "pending"):
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


def conf_path(i):
    return f"{ROOT}/etc/pve/lxc/{i}.conf"


def main_section(g):
    return "".join(f"{k}: {v}\n" for k, v in g["config"].items()) + "".join(l + "\n" for l in g.get("raw", []))


if ROOT is not None:
    for i, g in G.items():
        if g["type"] == "lxc" and os.path.exists(conf_path(i)):
            text = open(conf_path(i)).read().split("\n[", 1)[0]
            g["raw"] = [l for l in text.splitlines() if l.startswith("lxc.")]

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
    json.dump(S, open(state_path + ".tmp", "w"), indent=1)
    os.replace(state_path + ".tmp", state_path)
    if ROOT is None:
        return
    os.makedirs(f"{ROOT}/etc/pve/lxc", exist_ok=True)
    for name in os.listdir(f"{ROOT}/etc/pve/lxc"):
        if name.split(".")[0] not in G:
            os.remove(f"{ROOT}/etc/pve/lxc/{name}")
    for i, g in G.items():
        if g["type"] == "lxc":
            text = main_section(g)
            for snap, body in g.get("snapconf", {}).items():
                text += f"\n[{snap}]\n{body}"
            open(conf_path(i), "w").write(text)


def guest(i, must=True):
    g = G.get(str(i))
    if must and (g is None or g["type"] != KIND.get(tool, g and g["type"])):
        die(f"Configuration file 'nodes/pve/{KIND[tool]}/{i}.conf' does not exist")
    return g


out = ""
if tool == "pvesh":
    path = pos[0]
    if sub == "get" and path == "/cluster/resources":
        out = json.dumps([{"vmid": int(k), "type": g["type"], "status": g["status"], "tags": g["config"].get("tags", ""),
                           "node": "pve", "template": int(g.get("template", 0))} for k, g in G.items()])
    elif sub == "get" and path == "/nodes":
        out = json.dumps([{"node": "pve", "status": "online"}])
    elif sub == "get" and path.endswith("/firewall/rules"):
        # The rules with their fields, as pve-firewall's get_rules lists them.
        gid = re.search(r"/(\d+)/firewall", path).group(1)
        out = json.dumps([dict(r, pos=p) for p, r in enumerate(G.get(gid, {}).get("rules", []))])
    elif path.endswith("/firewall/rules") and sub == "create":
        # create_rule: unshifted to the top, disabled unless `enable` is given.
        gid = re.search(r"/(\d+)/firewall", path).group(1)
        G[gid].setdefault("rules", []).insert(0, dict(opts, enable=int(opts.get("enable", 0))))
    elif "/firewall/rules/" in path and sub == "set" and "moveto" in opts:
        # update_rule with moveto: taken out, put back before the old index moveto.
        gid = re.search(r"/(\d+)/firewall", path).group(1)
        rules, p, to = G[gid]["rules"], int(path.rsplit("/", 1)[1]), int(opts["moveto"])
        if p >= len(rules):
            die(f"no rule at position {p}")
        moved = rules[p]
        new = []
        for i, r in enumerate(rules):
            if i == p:
                continue
            if i == to:
                new.append(moved)
            new.append(r)
        if to >= len(rules):
            new.append(moved)
        G[gid]["rules"] = new
    elif "/firewall/rules/" in path and sub == "delete":
        gid = re.search(r"/(\d+)/firewall", path).group(1)
        if int(path.rsplit("/", 1)[1]) >= len(G[gid].get("rules", [])):
            die(f"no rule at position {path.rsplit('/', 1)[1]}")
        G[gid]["rules"].pop(int(path.rsplit("/", 1)[1]))
    elif path.endswith("/firewall/options"):
        gid = re.search(r"/(\d+)/firewall", path).group(1)
        G[gid]["firewall"] = opts
    elif sub == "get" and path == "/storage":
        out = json.dumps([dict(v, storage=k) for k, v in S.setdefault("storages", {}).items()])
elif tool in HOST_TOOLS:
    disks, pools = S.setdefault("disks", {}), S.setdefault("pools", {})
    datasets, storages = S.setdefault("datasets", {}), S.setdefault("storages", {})
    if tool == "wipefs":
        disk = argv[-1]
        if disk not in disks:
            die(f"wipefs: error: {disk}: probing initialization failed: No such file or directory")
        if "--all" in argv:
            if any(disk in d for d in pools.values()):
                die(f"wipefs: error: {disk}: probing initialization failed: Device or resource busy")
            disks[disk] = []
        elif disks[disk]:
            out = json.dumps({"signatures": [{"device": disk, "type": t} for t in disks[disk]]})
    elif tool == "zpool" and sub == "list":
        if argv[-1] not in pools:
            die(f"cannot open '{argv[-1]}': no such pool")
        out = argv[-1] + "\n"
    elif tool == "zpool" and sub == "import":
        if argv[1:]:
            bad("phoenix never imports pools itself")
        for name, members in S.get("importable", {}).items():
            out += f"   pool: {name}\n     id: 42\n  state: ONLINE\n config:\n\n\t{name}\tONLINE\n"
            out += "".join(f"\t  {os.path.basename(d)}\tONLINE\n" for d in members)
        if not out:
            die("no pools available to import")
    elif tool == "zpool" and sub == "status":
        for name, members in pools.items():
            out += f"  pool: {name}\n config:\n\t{name}\tONLINE\n"
            out += "".join(f"\t  {d}1\tONLINE\t0\t0\t0\n" for d in members)
    elif tool == "zpool" and sub == "create":
        args = [a for i, a in enumerate(argv[1:]) if a not in ("-o", "-O") and argv[i] not in ("-o", "-O")]
        name, vdevs = args[0], [a for a in args[1:] if a.startswith("/")]
        if name in pools:
            die(f"cannot create '{name}': pool already exists")
        for d in vdevs:
            if d not in disks:
                die(f"cannot open '{d}': no such device")
            if disks[d]:
                die(f"invalid vdev specification\nuse '-f' to override\n{d} contains a filesystem of type '{disks[d][0]}'")
        pools[name] = vdevs
        for d in vdevs:
            disks[d] = ["zfs_member"]
    elif tool == "zfs" and sub == "list":
        if argv[-1] not in datasets and argv[-1] not in pools:
            die(f"cannot open '{argv[-1]}': dataset does not exist")
        out = argv[-1] + "\n"
    elif tool == "zfs" and sub == "create":
        name = argv[-1]
        if name.split("/")[0] not in pools:
            die(f"cannot create '{name}': no such pool '{name.split('/')[0]}'")
        if name in datasets:
            die(f"cannot create '{name}': dataset already exists")
        datasets[name] = dict(a.split("=", 1) for a in argv[1:-1] if "=" in a)
    elif tool == "zfs" and sub == "set":
        if argv[-1] not in datasets:
            die(f"cannot open '{argv[-1]}': dataset does not exist")
        datasets[argv[-1]].update(dict(a.split("=", 1) for a in argv[1:-1]))
    elif tool == "pvesm" and sub == "add":
        if pos[1] in storages:
            die(f"create storage failed: storage ID '{pos[1]}' already defined")
        storages[pos[1]] = dict(opts, type=pos[0])
    elif tool == "pvesm" and sub == "list":
        if pos[0] not in storages:
            die(f"storage '{pos[0]}' does not exist")
        out = "Volid Format  Type Size VMID\n" + "".join(f"{v} raw images 1024 100\n" for v in S.get("volumes", {}).get(pos[0], []))
    elif tool == "pvesm" and sub in ("set", "remove"):
        if pos[0] not in storages:
            die(f"storage '{pos[0]}' does not exist")
        if sub == "set":
            storages[pos[0]].update(opts)
        else:
            del storages[pos[0]]
    elif tool == "exportfs":
        root = os.environ.get("PHOENIX_PVE_ROOT", "")
        try:
            lines = open(root + "/etc/exports").read().splitlines()
        except OSError:
            lines = []
        S["exported"] = [l.split()[0] for l in lines if l.strip() and not l.startswith("#")]
        for p in S["exported"]:
            if not os.path.isdir(root + p):
                die(f"exportfs: Failed to stat {p}: No such file or directory")
    elif tool == "curl":
        url = argv[-1]
        if "--output" in argv:
            open(argv[argv.index("--output") + 1], "w").write(f"image from {url}\n")
        elif url.endswith("/SHA256SUMS") and "sha256sums" in S:
            out = S["sha256sums"]
        else:
            die(f"curl: (22) The requested URL returned error: 404", 22)
    elif tool == "virt-customize":
        if not os.path.isfile(argv[argv.index("-a") + 1]):
            die(f"virt-customize: error: {argv[argv.index('-a') + 1]}: No such file or directory")
    elif tool == "showmount":
        out = "".join(f"{p} *\n" for p in S.get("exported", []))
    else:
        bad(f"'{line}' is not something the stand-in knows")
elif sub == "create":
    if str(pos[0]) in G:
        die(f"unable to create CT {pos[0]} - CT {pos[0]} already exists on node 'pve'" if tool == "pct" else f"VM {pos[0]} already exists")
    G[pos[0]] = {"type": KIND[tool], "status": "stopped", "config": opts, "snapshots": [], "files": {}}
elif sub == "clone":
    src = guest(pos[0])
    snap = opts.get("snapname")
    if snap and snap not in src["snapshots"]:
        die(f"snapshot '{snap}' does not exist")
    if pos[1] in G:
        die(f"{pos[1]} already exists")
    G[pos[1]] = {"type": src["type"], "status": "stopped", "config": dict(src["config"], **{k: v for k, v in opts.items() if k in ("hostname", "name")}), "snapshots": [], "files": dict(src["files"])}
    # The clone's config is the snapshot's, raw lines included.
    body = src.get("snapconf", {}).get(snap) if snap else None
    G[pos[1]]["raw"] = [l for l in (body or main_section(src)).splitlines() if l.startswith("lxc.")]
elif sub == "set":
    g = guest(pos[0])
    disk = opts.get("scsi0", "")
    if "import-from=" in disk:
        src = disk.split("import-from=")[1].split(",")[0]
        if not os.path.isfile(src):
            die(f"import-from: {src}: No such file")
        g["size"] = 2.2  # a cloud image's disk
        opts["scsi0"] = f"{disk.split(':')[0]}:vm-{pos[0]}-disk-0,size=2252M"
    for k in opts.pop("delete", "").split(","):
        g["config"].pop(k, None)
    g["config"].update(opts)
elif sub in ("start", "stop", "shutdown", "reboot"):
    g = guest(pos[0])
    if sub == "start" and g.get("template"):
        die("you can't start a vm if it's a template")
    g["status"] = "running" if sub in ("start", "reboot") else "stopped"
elif sub == "status":
    out = "status: " + guest(pos[0])["status"]
elif sub == "config":
    g = guest(pos[0])
    out = "".join(f"{k}: {v}\n" for k, v in g["config"].items())
    if "size" in g:
        size = g["size"]
        shown = f"{size}G" if size == int(size) else f"{int(size * 1024)}M"
        disk = "rootfs" if g["type"] == "lxc" else "scsi0"
        out += f"{disk}: local-lvm:vm-{pos[0]}-disk-0,size={shown}\n"
elif sub == "pending":
    # format_pending: `cur k: v` for each option in effect (nothing stays pending here).
    out = "".join(f"cur {k}: {v}\n" for k, v in guest(pos[0])["config"].items())
elif sub == "listsnapshot":
    out = "".join(f"`-> {s}  2026-11-27 00:00:00  snapshot\n" for s in guest(pos[0])["snapshots"]) + "`-> current  You are here!\n"
elif sub == "snapshot":
    g = guest(pos[0])
    if pos[1] in g["snapshots"]:
        die(f"snapshot name '{pos[1]}' already used")
    g["snapshots"].append(pos[1])
    g.setdefault("snapconf", {})[pos[1]] = main_section(g)
elif sub == "delsnapshot":
    guest(pos[0])["snapshots"].remove(pos[1])
    guest(pos[0]).get("snapconf", {}).pop(pos[1], None)
elif sub == "rollback":
    if pos[1] not in guest(pos[0])["snapshots"]:
        die(f"snapshot '{pos[1]}' does not exist")
elif sub == "resize":
    g = guest(pos[0])
    want = int(pos[2].rstrip("G"))
    if want < g.get("size", 0):
        die("unable to shrink disk size")
    g["size"] = want
elif sub == "destroy":
    g = guest(pos[0])
    if g["status"] == "running":
        die(f"CT {pos[0]} is running - destroy failed")
    del G[pos[0]]
elif sub == "template":
    if guest(pos[0])["status"] == "running":
        die("you can't convert a running VM to a template")
    guest(pos[0])["template"] = 1
elif sub == "push":
    g = guest(pos[0])
    if g["status"] != "running":
        die("container is not running")
    g["files"][pos[2]] = open(pos[1]).read()
elif sub == "exec":
    g = guest(pos[0])
    if g["status"] != "running":
        die("container is not running")
    if "--" not in pos:
        bad("pct exec without --")
elif sub == "guest" and pos[:1] == ["cmd"]:
    # qm guest cmd <id> ping: nothing printed on success.
    if guest(pos[1])["status"] != "running":
        die("QEMU guest agent is not running")
elif sub == "agent":
    if guest(pos[0])["status"] != "running":
        die("QEMU guest agent is not running")
elif sub == "cloudinit":
    pass
elif sub == "guest":
    # qm guest exec <id> [--pass-stdin 1] -- cmd...: a JSON reply like the agent's.
    gid = pos[1]
    g = guest(gid)
    if g["status"] != "running":
        die("QEMU guest agent is not running")
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
    out = json.dumps(reply)
save()
sys.stdout.write(out)
