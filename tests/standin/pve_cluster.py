"""The stand-in's Proxmox cluster: nodes that share one configuration (one
`state.json`), guests that live on a node, storages that are node-local or shared,
and what a cluster adds to a single host: the inventory, node status, clones to
another node and migration.

A guest's node is its `node`; a guest without one is on `pve_model.NODE`, so the
single-host CLI stand-in is a cluster of that one node and its state needs no
change. `S["nodes"]` lists the nodes (name -> `ip`, `memory` in bytes, `cpus`).
A storage is on every node unless its `nodes` (storage.cfg's list) says otherwise;
it is shared when its type is (pve-storage Plugin.pm @SHARED_STORAGE) or when it
says `shared 1`; a volume on a storage that is not shared is the node's own.

Each rule names the Proxmox function it comes from.
"""
import re

from pve_model import (
    NODE, die, is_shared, mount_type, prop, size_gib, storage_type, storages, volume, volumes,
)

GIB = 1024 ** 3
DEFAULT_NODE_MEMORY = 64 * GIB
# What a node's own processes use, before any guest runs.
HOST_MEMORY = 2 * GIB


class ParamError(Exception):
    """pve-common PVE::Exception raise_param_exc: HTTP 400 with per-parameter errors."""

    def __init__(self, errors):
        super().__init__("Parameter verification failed.")
        self.errors = errors


def ensure_nodes(S, count, memory=DEFAULT_NODE_MEMORY):
    """The nodes `pve1..pve<count>` unless the state already names its nodes."""
    if not S.get("nodes"):
        S["nodes"] = {f"pve{i}": {"ip": f"10.0.0.{i}", "memory": memory, "cpus": 16}
                      for i in range(1, count + 1)}
    return S["nodes"]


def node_of(g):
    return g.get("node", NODE)


def node_names(S):
    return list(S.get("nodes") or {NODE: {}})


def check_node_exists(S, node):
    # pve-cluster src/PVE/Cluster.pm check_node_exists.
    if node not in node_names(S):
        die(f"no such cluster node '{node}'")


def check_vmid_unused(G, gid):
    # pve-cluster src/PVE/Cluster.pm check_vmid_unused: the type and node of the
    # guest that has the ID (pct/qm create, clone through create_and_lock_config).
    g = G.get(str(gid))
    if g is not None:
        die(f"{'VM' if g['type'] == 'qemu' else 'CT'} {gid} already exists on node '{node_of(g)}'")


def check_lock(g, gid=None):
    # pve-guest-common src/PVE/AbstractConfig.pm check_lock ("CT"/"VM" is guest_type).
    lock = g["config"].get("lock")
    if lock:
        die(f"{'CT' if g['type'] == 'lxc' else 'VM'} is locked ({lock})")


def memory_bytes(g):
    # pve-container and qemu-server both default `memory` to 512 (MiB).
    return int(g["config"].get("memory", 512)) * 1024 * 1024


def node_memory(S, node):
    """(total, used): a node's memory, the guests running on it counted at their
    configured size."""
    total = int(S.get("nodes", {}).get(node, {}).get("memory", DEFAULT_NODE_MEMORY))
    used = HOST_MEMORY + sum(memory_bytes(g) for g in S["guests"].values()
                             if node_of(g) == node and g["status"] == "running")
    return total, min(used, total)


def node_status(S, node):
    """GET /nodes/{node}/status (pve-manager src/PVE/API2/Nodes.pm status), the
    fields a client reads."""
    total, used = node_memory(S, node)
    cpus = int(S.get("nodes", {}).get(node, {}).get("cpus", 16))
    return {"memory": {"total": total, "used": used, "free": total - used},
            "swap": {"total": 0, "used": 0, "free": 0}, "cpu": 0.01, "wait": 0, "uptime": 86400,
            "cpuinfo": {"cpus": cpus, "sockets": 1, "cores": cpus, "model": "stand-in"},
            "loadavg": ["0.00", "0.00", "0.00"], "kversion": "Linux 6.14.8-2-pve", "pveversion": "pve-manager/9.0.3"}


def root_disk(g):
    vols = volumes(g["type"], g["config"])
    for key, vol in vols:
        if key == "rootfs" or g["type"] == "qemu":
            return int(size_gib(prop(g["config"][key], "size") or "0") * GIB)
    return 0


def vm_resources(S, down, base):
    """The guests of GET /cluster/resources: `base` is pve_firewall.resources's
    entries (id, vmid, type, node, status, template, name, tags, lock), completed
    as pve-manager src/PVE/API2Tools.pm extract_vm_stats fills them from the
    node's RRD data; a node that is offline sends none, so its guests show only
    their ID, type and node with status `unknown` (the config's `tags` and `lock`
    still come from the cluster file system)."""
    out = []
    for e in base:
        g = S["guests"][str(e["vmid"])]
        if e["node"] in down:
            e = {k: e[k] for k in ("id", "vmid", "node", "type", "tags", "lock") if k in e}
            e["status"] = "unknown"
        else:
            running = g["status"] == "running"
            e.update(maxmem=memory_bytes(g), maxdisk=root_disk(g), maxcpu=int(g["config"].get("cores", 1)),
                     mem=memory_bytes(g) // 4 if running else 0, cpu=0.0, disk=0, uptime=3600 if running else 0,
                     netin=0, netout=0, diskread=0, diskwrite=0)
        out.append(e)
    return out


def node_resources(S, down):
    # pve-manager src/PVE/API2Tools.pm extract_node_stats: an offline member is
    # `offline`, with no usage figures.
    out = []
    for n in node_names(S):
        e = {"id": f"node/{n}", "node": n, "type": "node", "status": "offline" if n in down else "online"}
        if n not in down:
            total, used = node_memory(S, n)
            e.update(maxmem=total, mem=used, maxcpu=int(S.get("nodes", {}).get(n, {}).get("cpus", 16)),
                     cpu=0.01, uptime=86400, level="")
        out.append(e)
    return out


def storage_resources(S, down):
    # pve-manager src/PVE/API2Tools.pm extract_storage_stats, per node.
    out = []
    for n in node_names(S):
        for sid, st in node_storages(S, n):
            out.append({"id": f"storage/{n}/{sid}", "storage": sid, "node": n, "type": "storage",
                        "plugintype": st["type"], "shared": int(is_shared(S, sid)),
                        "content": st.get("content", ""), "status": "unknown" if n in down else "available",
                        "maxdisk": 1024 * GIB, "disk": 0})
    return out


def cluster_status(S, down, name="standin"):
    """GET /cluster/status (pve-manager src/PVE/API2/ClusterConfig.pm status via
    PVE::Cluster::get_members): the cluster, then one entry per node with its `ip`
    and `online`; `local` marks the node that answers (the first)."""
    nodes = node_names(S)
    out = [{"type": "cluster", "id": "cluster", "name": name, "nodes": len(nodes), "quorate": 1, "version": len(nodes)}]
    for i, n in enumerate(nodes):
        out.append({"type": "node", "id": f"node/{n}", "name": n, "nodeid": i + 1,
                    "ip": S.get("nodes", {}).get(n, {}).get("ip", "127.0.0.1"),
                    "online": 0 if n in down else 1, "local": int(i == 0), "level": ""})
    return out


def node_storages(S, node):
    """The storages enabled on `node` (pve-storage storage_check_enabled)."""
    out = []
    for sid, st in sorted(storages(S).items()):
        if str(st.get("disable", 0)) == "1":
            continue
        if st.get("nodes") and node not in re.split(r"[,;\s]+", st["nodes"]):
            continue
        out.append((sid, st))
    return out


def clone_target_checks(S, kind, opts, local):
    """What clone_vm checks before anything else when a `target` is given
    (pve-container src/PVE/API2/LXC.pm clone_vm; qemu-server src/PVE/API2/Qemu.pm
    clone_vm $load_and_check): the target node exists, and a `storage` for the
    copy is there on both nodes and shared. Returns the target, None when it is
    the local node (`undef $target if $target eq $localnode`)."""
    target = opts.get("target")
    if not target or target in (local, "localhost"):
        return None
    check_node_exists(S, target)
    storage = opts.get("storage")
    if storage:
        storage_type(S, storage, local)
        storage_type(S, storage, target)
        if not is_shared(S, storage):
            die(f"can't clone to non-shared storage '{storage}'")
    return target


def clone_shared_check(S, kind, config, storage, target):
    """clone_vm's `$sharedvm`: a clone goes to another node only when every volume
    it copies is on shared storage. pve-container counts the storage the volume
    is copied to (`$sid = $storage if defined($storage)`), so a full clone onto a
    shared `storage` may leave a node-local source; qemu-server
    ($check_storage_access_clone) counts the source's volumes, CD-ROM images
    included. A linked clone (no `storage` allowed) of a template on node-local
    storage is therefore refused on another node by both."""
    if not target:
        return
    if kind == "lxc":
        for _, vol in volumes(kind, config):
            if mount_type(vol) == "volume" and not is_shared(S, storage or vol.split(":")[0]):
                die(f"can't clone CT to node '{target}' (CT uses local storage)")
        return
    for key in sorted(config):
        if re.fullmatch(r"(ide|sata|scsi|virtio)\d+|efidisk0|tpmstate0", key):
            vol = volume("qemu", config[key]) or ""
            if ":" in vol and not vol.startswith("/") and not is_shared(S, vol.split(":")[0]):
                die(f"can't clone VM to node '{target}' (VM uses local storage)")


def linked_base(vol):
    """The base volume a linked clone's volume is named after (pve-storage
    parse_volname's `$basename`: `basevol-900-disk-0/subvol-101-disk-0`)."""
    parts = vol.split(":", 1)[-1].split("/")
    if len(parts) > 1 and re.match(r"(base|basevol)-\d+-", parts[0]):
        return parts[0]
    return None


def migrate_prefork(S, gid, g, opts, local):
    """migrate_vm's early checks, answered before any task (pve-container
    src/PVE/API2/LXC.pm migrate_vm; qemu-server src/PVE/API2/Qemu.pm migrate_vm)."""
    kind, target = g["type"], opts["target"]
    running = g["status"] == "running"
    if target == local:
        raise ParamError({"target": "target is local node."})
    check_node_exists(S, target)
    if kind == "lxc":
        if running and opts.get("online") != "1" and opts.get("restart") != "1":
            die("can't migrate running container without --online or --restart")
        return
    check_lock(g)
    if running and opts.get("online") != "1":
        die("can't migrate running VM without --online")
    # PVE::QemuServer::check_storage_availability: every disk's storage on both nodes.
    for _, vol in volumes(kind, g["config"]):
        if ":" in vol and not vol.startswith("/"):
            storage_type(S, vol.split(":")[0], local)
            storage_type(S, vol.split(":")[0], target)


def migrate(S, gid, g, opts, log):
    """The migration task (pve-container src/PVE/LXC/Migrate.pm prepare and
    phase1; qemu-server src/PVE/QemuMigrate.pm prepare and scan_local_volumes):
    what cannot move ends the task; a running container in restart mode is shut
    down, moved and started again; a running VM moves online."""
    kind, target = g["type"], opts["target"]
    running = g["status"] == "running"
    what = "CT" if kind == "lxc" else "VM"
    check_lock(g)
    if kind == "lxc" and running:
        if opts.get("online") == "1":
            die("lxc live migration is currently not implemented")
        if opts.get("restart") != "1":
            die("running container can only be migrated in restart mode")
    errors = []
    for key, vol in volumes(kind, g["config"]):
        if mount_type(vol) != "volume":
            die(f"cannot migrate local {mount_type(vol)} mount point '{key}'" if kind == "lxc"
                else f"can't migrate local disk '{vol}': local file/device")
        sid = vol.split(":")[0]
        storage_type(S, sid, node_of(g))
        storage_type(S, sid, target)
        if is_shared(S, sid):
            continue
        log(f"found local volume '{vol}'" if kind == "lxc" else f"found local disk '{vol}'")
        base = linked_base(vol)
        if base:
            errors.append((vol, f"clone of '{base}'"))
        if g.get("snapshots") and storage_type(S, sid) not in ("zfspool", "btrfs"):
            errors.append((vol, "non-migratable snapshot exists"))
        if kind == "qemu" and running and opts.get("with-local-disks") != "1":
            errors.append((vol, "can't live migrate attached local disks without with-local-disks option"))
    for vol, err in errors:
        log(f"can't migrate local {'volume' if kind == 'lxc' else 'disk'} '{vol}': {err}")
    if errors:
        die(f"can't migrate {what} - check log")
    if kind == "lxc" and running:
        log(f"shutdown CT {gid}")
        g["status"] = "stopped"
    log(f"migration of {what} {gid} from node '{node_of(g)}' to '{target}'")
    g["node"] = target
    if kind == "lxc" and running:
        log(f"start container on target node")
        g["status"] = "running"
