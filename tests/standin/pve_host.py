"""The host tools on the stand-in host: `zpool`, `zfs`, `wipefs`, `pvesm`,
`exportfs`, `showmount`, `curl` and `virt-customize`, on the disks, pools, datasets
and storages of the state."""
import json
import os

from pve_model import DEFAULT_STORAGES, die


def run(c):
    """Run `c.tool`; return what it prints."""
    S, tool, sub, argv, pos, opts, bad, line = c.S, c.tool, c.sub, c.argv, c.pos, c.opts, c.bad, c.line
    out = ""
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
        if pos[1] in storages or pos[1] in DEFAULT_STORAGES:
            die(f"create storage failed: storage ID '{pos[1]}' already defined")
        storages[pos[1]] = dict(opts, type=pos[0])
    elif tool == "pvesm" and sub == "list":
        if pos[0] not in storages and pos[0] not in DEFAULT_STORAGES:
            die(f"storage '{pos[0]}' does not exist")
        out = "Volid Format  Type Size VMID\n" + "".join(f"{v} raw images 1024 100\n" for v in S.get("volumes", {}).get(pos[0], []))
    elif tool == "pvesm" and sub in ("set", "remove"):
        if pos[0] in DEFAULT_STORAGES:
            storages.setdefault(pos[0], dict(DEFAULT_STORAGES[pos[0]]))
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
    elif tool == "nvidia-modprobe":
        # The NVIDIA driver's nvidia-modprobe: `-u` loads nvidia-uvm and, with
        # `-c=0`, makes /dev/nvidia-uvm and /dev/nvidia-uvm-tools; it needs the
        # driver (here: /dev/nvidiactl on the host).
        dev = os.environ.get("PHOENIX_PVE_ROOT", "") + "/dev"
        if argv != ["-u", "-c=0"]:
            bad(f"'{line}' is not how phoenix loads nvidia-uvm")
        if not os.path.exists(f"{dev}/nvidiactl"):
            die("nvidia-modprobe: failed to load the NVIDIA kernel module", 1)
        for node in ("nvidia-uvm", "nvidia-uvm-tools"):
            open(f"{dev}/{node}", "a").close()
    elif tool == "showmount":
        out = "".join(f"{p} *\n" for p in S.get("exported", []))
    else:
        bad(f"'{line}' is not something the stand-in knows")
    return out
