"""`pct` and `qm` on the stand-in host: guests, their config with pending changes,
snapshots in creation order, clones and templates, refusing what Proxmox refuses.

Each refusal names the Proxmox function it comes from (pve-container `src/PVE/...`,
qemu-server `src/PVE/...`, pve-guest-common `src/PVE/AbstractConfig.pm`); a start's
id map is checked as LXC and shadow's `newuidmap`/`newgidmap` check it, against the
host's `/etc/subuid` and `/etc/subgid` under $PHOENIX_PVE_ROOT.
"""
import json
import os
import re
import sys

import pve_cluster
from pve_model import (
    TEMPLATE_NONE, allocate, die, has_clone_feature, has_snapshot_feature, host_path, mount_type,
    ostype_of, parse_section, print_lxc_network, prop, rename_volume, section, size_gib, size_text,
    storage_type,
    unique_tags, volume, volumes, with_mac, with_new_mac, with_prop,
)

# pve-container src/PVE/LXC/Config.pm $LXC_FASTPLUG_OPTIONS and vmconfig_hotplug_pending.
LXC_FASTPLUG = {"description", "onboot", "startup", "protection", "hostname", "hookscript", "cores", "tags", "lock"}
LXC_LIVE = LXC_FASTPLUG | {"cpulimit", "cpuunits", "memory", "swap"}
LXC_LIVE_DELETE = LXC_FASTPLUG | {"swap", "cpulimit", "cpuunits"}
# qemu-server src/PVE/QemuServer.pm $fast_plug_option, the cloud-init options, and
# what vmconfig_hotplug_pending applies live with the default hotplug=network,disk,usb.
QM_LIVE = {"description", "hookscript", "lock", "migrate_downtime", "migrate_speed", "name", "onboot",
           "protection", "shares", "startup", "tags", "vmstatestorage", "ciuser", "cipassword", "citype",
           "ciupgrade", "cicustom", "nameserver", "searchdomain", "sshkeys", "balloon", "cpuunits",
           "cpulimit", "agent", "hotplug", "tablet"}


def live(kind, g, key):
    if kind == "lxc":
        if key in LXC_LIVE or re.fullmatch(r"net\d+", key):
            return True
        # A new mpN/devN is hotplugged; changing an existing one waits for a restart.
        return re.fullmatch(r"(mp|dev)\d+", key) is not None and key not in g["config"]
    return key in QM_LIVE or re.fullmatch(r"(net|ipconfig|usb|scsi|virtio)\d+", key) is not None


def live_delete(kind, key):
    if kind == "lxc":
        return key in LXC_LIVE_DELETE or re.fullmatch(r"(net|unused)\d+", key) is not None
    return key in QM_LIVE or re.fullmatch(r"(net|ipconfig|usb|unused|scsi|virtio)\d+", key) is not None


def apply_pending(g):
    # PVE::LXC::Config / PVE::QemuServer vmconfig_apply_pending (run by vm_start).
    g["config"].update(g.pop("pending", {}))
    for k in g.pop("pending_delete", []):
        g["config"].pop(k, None)


def merged(g):
    # PVE::AbstractConfig::load_current_config with current=0: pending values merged,
    # pending deletes dropped.
    conf = dict(g["config"], **g.get("pending", {}))
    for k in g.get("pending_delete", []):
        conf.pop(k, None)
    return conf


def check_device(path):
    # pve-container src/PVE/LXC/Tools.pm get_device_mode_and_rdev.
    if not os.path.exists(host_path(path)):
        die(f"Device {path} does not exist")


def update(c, gid, g, changes, deletes, creating=False):
    kind = g["type"]
    for k in [] if creating else list(changes) + deletes:
        # pve-container src/PVE/LXC/Config.pm update_pct_config.
        if kind == "lxc" and k == "unprivileged":
            die(f"unable to {'modify' if k in changes else 'delete'} read-only option: 'unprivileged'")
        if kind == "lxc" and k in deletes and k in ("memory", "rootfs", "ostype"):
            die(f"unable to delete required option '{k}'")
    pending = g.setdefault("pending", {})
    pdel = g.setdefault("pending_delete", [])
    for k, v in changes.items():
        if k == "tags":
            v = unique_tags(v)
        elif re.fullmatch(r"net\d+", k):
            v = with_mac(kind, v)
        elif kind == "lxc" and re.fullmatch(r"dev\d+", k):
            check_device(prop(v, "path", "path"))  # update_pct_config `# Validate device`
        elif k == "rootfs" or re.fullmatch(r"(mp|scsi|virtio|sata|ide|efidisk|tpmstate)\d+", k):
            v = allocate(c.S, gid, kind, g, v)  # one at a time: each takes the next disk number
        pending[k] = v
        if k in pdel:
            pdel.remove(k)
    for k in deletes:
        pending.pop(k, None)
        if k in g["config"] and k not in pdel:
            pdel.append(k)
    if g["status"] != "running":
        apply_pending(g)
        return
    # vmconfig_hotplug_pending: what applies live leaves the pending section.
    for k in list(pending):
        if live(kind, g, k):
            v = pending[k]
            if kind == "lxc" and re.fullmatch(r"mp\d+", k) and mount_type(volume(kind, v)) == "bind" \
                    and not os.path.isdir(host_path(volume(kind, v))):
                # pve-container src/API2/LXC/Config.pm: a hotplug error aborts the update.
                die(f"unable to hotplug {k}: directory '{volume(kind, v)}' does not exist")
            g["config"][k] = pending.pop(k)
    for k in list(pdel):
        if live_delete(kind, k):
            g["config"].pop(k, None)
            pdel.remove(k)
    if not pending:
        g.pop("pending")
    if not pdel:
        g.pop("pending_delete")


def start(c, gid, g):
    kind = g["type"]
    if g.get("template"):
        # pve-container src/PVE/API2/LXC/Status.pm vm_start; qemu-server PVE::QemuServer::vm_start.
        die("you can't start a CT if it's a template" if kind == "lxc" else "you can't start a vm if it's a template")
    if g["status"] == "running":
        die(f"CT {gid} already running" if kind == "lxc" else f"VM {gid} already running")
    apply_pending(g)
    if kind == "lxc":
        devs = [prop(v, "path", "path") for k, v in sorted(g["config"].items()) if re.fullmatch(r"dev\d+", k)]
        for path in devs:
            check_device(path)  # PVE::LXC::update_lxc_config, before systemctl
        # lxc-start sets up the user namespace (lxc_spawn) before the prestart hook mounts anything.
        check_id_map(gid, g)
        # lxc-pve-prestart-hook: mounts (PVE::LXC::__mountpoint_mount), then device
        # nodes (PVE::LXC::create_passthrough_device_node); a hook failure ends in
        # PVE::LXC::monitor_start's "startup for container '$vmid' failed".
        for _, vol in volumes(kind, g["config"]):
            if mount_type(vol) == "bind" and not os.path.isdir(host_path(vol)):
                die(f"directory '{vol}' does not exist\nstartup for container '{gid}' failed")
        for i, path in enumerate(devs):
            if path in devs[:i]:
                die(f"failed to mknod /var/lib/lxc/{gid}/passthrough{path}: File exists\n"
                    f"startup for container '{gid}' failed")
    g["status"] = "running"


def id_map(g):
    """The container's map as pve-container makes it (src/PVE/LXC.pm parse_id_maps,
    update_lxc_config): its `lxc.idmap` lines, exactly; none and unprivileged, the
    default `u 0 100000 65536`, `g 0 100000 65536`; none and privileged, no map."""
    ranges = []
    for line in g.get("raw", []):
        m = re.fullmatch(r"lxc\.idmap\s*(?::|=)\s*(.*?)\s*", line)
        if not m:
            continue
        v = re.fullmatch(r"([ug])\s+(\d+)\s+(\d+)\s+(\d+)\s*", m.group(1))
        if not v:
            die(f"failed to parse idmap: {m.group(1)}")  # parse_id_maps
        ranges.append((v.group(1), int(v.group(2)), int(v.group(3)), int(v.group(4))))
    if not ranges and g["config"].get("unprivileged") == "1":
        ranges = [("u", 0, 100000, 65536), ("g", 0, 100000, 65536)]
    return ranges


def subids(kind):
    """Root's ranges in the host's /etc/subuid or /etc/subgid (`name:start:count`;
    shadow's lib/subordinateio.c matches the owner by name or by uid)."""
    try:
        lines = open(host_path("/etc/sub" + ("uid" if kind == "u" else "gid"))).read().splitlines()
    except OSError:
        return []
    out = []
    for l in lines:
        parts = l.strip().split(":")
        if len(parts) == 3 and parts[0] in ("root", "0") and parts[1].isdigit() and parts[2].isdigit():
            out.append((int(parts[1]), int(parts[2])))
    return out


def root_may_map(own, start, count):
    # shadow src/newuidmap.c / newgidmap.c verify_range: root's own id alone, or
    # lib/subordinateio.c have_range: a run of root's entries back to back that
    # holds the whole range.
    if count == 1 and start == 0:
        return True
    at, end = start, start + count
    while at < end:
        hit = [s + c for s, c in own if s <= at < s + c]
        if not hit:
            return False
        at = hit[0]
    return True


def check_id_map(gid, g):
    ranges = id_map(g)
    if not ranges or os.environ.get("PHOENIX_PVE_ROOT") is None:
        return
    failed = f"\nstartup for container '{gid}' failed"  # PVE::LXC::monitor_start
    for kind, name in (("u", "uid"), ("g", "gid")):
        mine = sorted((c, h, n) for k, c, h, n in ranges if k == kind)
        # The container must map its root (LXC conf.c: "No uid mapping for container
        # root"). Past that, the stand-in is stricter than LXC, which starts a
        # container with holes in its map (their files show as nobody): every id of
        # 0..65535 must be mapped, contiguously, as phoenix always writes maps.
        if not mine or mine[0][0] != 0:
            die(f"lxc_spawn: No {name} mapping for container root{failed}")
        at = 0
        for c, h, n in mine:
            if c != at:
                die(f"lxc_spawn: container {name}s {at}-{c - 1} are not mapped "
                    f"(the stand-in wants 0-65535 mapped contiguously){failed}")
            at = c + n
        if at < 65536:
            die(f"lxc_spawn: container {name}s {at}-65535 are not mapped "
                f"(the stand-in wants 0-65535 mapped contiguously){failed}")
    # LXC maps uids, then gids, through newuidmap/newgidmap (lxc idmap_utils.c
    # lxc_map_ids), which refuse a range root is not given in /etc/subuid or
    # /etc/subgid; the message is shadow's verify_ranges one, as LXC logs it.
    for kind, name in (("u", "uid"), ("g", "gid")):
        own = subids(kind)
        mine = [(c, h, n) for k, c, h, n in ranges if k == kind]
        for c, h, n in mine:
            if not root_may_map(own, h, n):
                args = " ".join(f"{c2} {h2} {n2}" for c2, h2, n2 in mine)
                tool = f"new{name}map"
                die(f"lxc_map_ids: {tool} failed to write mapping \"{tool}: {name} range "
                    f"[{c}-{c + n}) -> [{h}-{h + n}) not allowed\": {tool} 4242 {args}\n"
                    f"lxc_spawn: Failed to set up id mapping.{failed}")


def created_ct(gid, g, ostemplate, opts):
    """What `pct create` writes beside the given options: the OS detected in the
    template (see pve_model.ostype_of; a given --ostype only where nothing is
    detected) and pve-container src/PVE/API2/LXC.pm create_vm's defaults
    (`$conf->{hostname} ||= "CT$vmid"`, `memory ||= 512`, `swap //= 512`;
    `arch` defaults to amd64, PVE::LXC::Config)."""
    conf = g["config"]
    ostype = ostype_of(ostemplate) or opts.get("ostype")
    if ostype:
        conf["ostype"] = ostype
    conf.setdefault("arch", "amd64")
    conf.setdefault("hostname", f"CT{gid}")
    conf.setdefault("memory", "512")
    conf.setdefault("swap", "512")


def printed(g, conf):
    """A config as `pct config`/`qm config` print it: a container's interfaces as
    pve-container stores them (print_lxc_network)."""
    if g["type"] != "lxc":
        return conf
    return {k: print_lxc_network(v) if re.fullmatch(r"net\d+", k) else v for k, v in conf.items()}


def snapshot_config(g, snap):
    if snap not in g.get("snapshots", []):
        die(f"snapshot '{snap}' does not exist")
    config, raw = parse_section(g.get("snapconf", {}).get(snap) or section(g["config"], g.get("raw", [])))
    return config, raw


def clone(c, gid, src, new):
    kind, opts = src["type"], c.opts
    # A clone to another node (`target`): see pve_cluster.clone_target_checks.
    target = pve_cluster.clone_target_checks(c.S, kind, opts, pve_cluster.node_of(src))
    if new in c.G:
        # pve-guest-common AbstractConfig.pm create_and_lock_config -> pve-cluster
        # check_vmid_unused; qemu-server API2/Qemu.pm clone_vm checks the file first.
        die(f"CT {new} already exists on node '{pve_cluster.node_of(c.G[new])}'" if kind == "lxc"
            else f"unable to create VM {new}: config file already exists")
    snap = opts.get("snapname")
    template = bool(src.get("template"))
    # `full` defaults to "not a template" (pve-container API2/LXC.pm clone_vm,
    # qemu-server API2/Qemu.pm clone_vm).
    full = opts.get("full", "0" if template else "1") == "1"
    storage = opts.get("storage")
    if storage is not None and not full:
        die("parameter 'storage' not allowed for linked clones")
    if storage is not None:
        storage_type(c.S, storage)
    config, raw = snapshot_config(src, snap) if snap else (dict(src["config"]), list(src.get("raw", [])))
    running = src["status"] == "running"
    if kind == "lxc" and running and full and not snap:
        die("Full clone of a running container is only possible from a snapshot")
    for key, vol in volumes(kind, config):
        if mount_type(vol) != "volume":
            if kind == "lxc":
                die(f"unable to clone mountpoint '{key}' (type {mount_type(vol)})")
            continue
        if not full:
            # clone_vm: volume_has_feature('clone', $volid, $snapname, ...); a VM the
            # stand-in treats alike (qemu-server passes no target formats, but phoenix
            # makes only full VM clones).
            if not has_clone_feature(c.S, vol, snap):
                die(f"Linked clone feature for '{vol}' is not available" if kind == "lxc"
                    else f"Linked clone feature is not supported for '{vol}' ({key})")
    pve_cluster.clone_shared_check(c.S, kind, config, storage, target)
    drop = {"snapshots", "parent", "snaptime", "snapstate", "vmstate", "template", "runningcpu", "runningmachine"}
    newconf = {}
    for k, v in config.items():
        if k in drop or k.startswith("unused"):
            continue
        if re.fullmatch(r"net\d+", k):
            v = with_new_mac(kind, v)  # "# always change MAC! address"
        elif (kind == "lxc" or prop(v, "media") != "cdrom") and k in dict(volumes(kind, config)):
            base_type = None if full else storage_type(c.S, volume(kind, v).split(":")[0])
            v = rename_volume(v, kind, c.pos[0], new, storage, linked=base_type)
        newconf[k] = v
    name_key = "hostname" if kind == "lxc" else "name"
    if opts.get(name_key):
        newconf[name_key] = opts[name_key]
    elif kind == "qemu":
        newconf["name"] = "Copy-of-VM-" + config.get("name", c.pos[0])
    # pve-firewall src/PVE/Firewall/Helpers.pm clone_vmfw_conf: the current firewall
    # file, never the snapshot's.
    c.G[new] = {"type": kind, "status": "stopped", "config": newconf, "snapshots": [], "raw": raw,
                "files": dict(src.get("files", {})), "rules": [dict(r) for r in src.get("rules", [])],
                "firewall": dict(src.get("firewall", {}))}
    if not full:
        c.G[new]["linked_from"] = c.pos[0]
    if target or "node" in src:
        c.G[new]["node"] = target or src["node"]


def snapshot(c, gid, g, name):
    kind = g["type"]
    # pve-container src/PVE/API2/LXC/Snapshot.pm snapshot (qemu-server the same).
    if name in ("vzdump", "current"):
        die(f"unable to use snapshot name '{name}' (reserved name)")
    # pve-guest-common src/PVE/AbstractConfig.pm __snapshot_prepare, in its order.
    if g.get("template"):
        die("you can't take a snapshot if it's a template")
    if name in g["snapshots"]:
        die(f"snapshot name '{name}' already used")
    if not has_snapshot_feature(c.S, kind, g["config"]):
        die("snapshot feature is not available")
    g["snapshots"].append(name)
    g.setdefault("snapconf", {})[name] = section(g["config"], g.get("raw", []))


def rollback(c, gid, g, name):
    kind = g["type"]
    # pve-guest-common src/PVE/AbstractConfig.pm snapshot_rollback.
    if g.get("template"):
        die("you can't rollback if vm is a template")
    config, raw = snapshot_config(g, name)
    later = g["snapshots"][g["snapshots"].index(name) + 1:]
    for _, vol in volumes(kind, config):
        # __snapshot_rollback_vol_possible -> pve-storage PVE::Storage::volume_rollback_is_possible.
        if mount_type(vol) != "volume":
            die(f"snapshot rollback file/device '{vol}' is not possible")
        # pve-storage src/PVE/Storage/ZFSPoolPlugin.pm volume_rollback_is_possible:
        # every later snapshot is a blocker (LVM-thin, RBD, BTRFS allow any).
        if storage_type(c.S, vol.split(":")[0]) in ("zfspool", "zfs") and later:
            die(f"can't rollback, '{name}' is not most recent snapshot on '{vol}'")
    # The guest is stopped, the snapshot's config restored; `--start 1` starts it again.
    g["status"] = "stopped"
    g["config"], g["raw"] = config, raw
    g.pop("pending", None)
    g.pop("pending_delete", None)
    if c.opts.get("start") == "1":
        start(c, gid, g)


def template(c, gid, g):
    kind = g["type"]
    what = "CT" if kind == "lxc" else "VM"
    # pve-container src/PVE/API2/LXC.pm template; qemu-server src/PVE/API2/Qemu.pm template.
    if g["snapshots"]:
        die(f"unable to create template, because {what} contains snapshots")
    if g.get("template"):
        die("you can't convert a template to a template")
    if g["status"] == "running":
        die(f"you can't convert a {what} to template if the {what} is running")
    for _, vol in volumes(kind, g["config"]):
        # pve-container src/PVE/LXC.pm template_create: volume_has_feature('template')
        # of every volume, which a bind or device mount (a path) never has
        # (qemu-server skips such volumes).
        if kind == "lxc" and (mount_type(vol) != "volume" or storage_type(c.S, vol.split(":")[0]) in TEMPLATE_NONE):
            die(f"Template feature is not available for '{vol}'")
    for k, vol in volumes(kind, g["config"]):
        if mount_type(vol) == "volume":
            # pve-storage vdisk_create_base: the volume's own name (its last part)
            # `vm-` becomes `base-`, ZFS's `subvol-` `basevol-` (ZFSPoolPlugin
            # create_base; the directory plugins' subvol stays `subvol-`).
            sid, name = vol.split(":", 1)
            parts = name.split("/")
            zfs = storage_type(c.S, sid) in ("zfspool", "zfs")
            parts[-1] = re.sub(r"^vm-", "base-", parts[-1])
            parts[-1] = re.sub(r"^subvol-", "basevol-" if zfs else "subvol-", parts[-1])
            g["config"][k] = g["config"][k].replace(vol, f"{sid}:{'/'.join(parts)}", 1)
    g["template"] = 1
    g["config"]["template"] = "1"


def destroy_prefork(c, gid, g):
    """What destroy_vm refuses before its task starts."""
    if g["status"] == "running" and c.opts.get("force") != "1":
        # pve-container src/PVE/API2/LXC.pm destroy_vm; qemu-server PVE::QemuServer::destroy_vm.
        die(f"unable to destroy CT {gid} - container is running" if g["type"] == "lxc"
            else f"VM {gid} is running - destroy failed")


def destroy(c, gid, g):
    kind = g["type"]
    destroy_prefork(c, gid, g)
    clones = [i for i, o in c.G.items() if o.get("linked_from") == gid]
    if g.get("template") and clones:
        vol = volumes(kind, g["config"])[0][1]
        # qemu-server QemuServer.pm destroy_vm (full volid, "cloned"); pve-storage
        # Storage.pm vdisk_free (volname only) for a CT.
        die(f"base volume '{vol}' is still in use by linked cloned" if kind == "qemu"
            else f"base volume '{vol.split(':', 1)[1]}' is still in use by linked clones")
    del c.G[gid]


def resize(c, gid, g, disk, size):
    cur = size_gib(prop(g["config"].get(disk, ""), "size") or "0")
    want = cur + size_gib(size[1:]) if size.startswith("+") else size_gib(size)
    if want < cur:
        # pve-container src/PVE/API2/LXC.pm resize_vm; qemu-server src/PVE/API2/Qemu.pm
        # resize_vm (its own words).
        die("unable to shrink disk size" if g["type"] == "lxc" else "shrinking disks is not supported")
    if disk in g["config"]:
        g["config"][disk] = with_prop(g["config"][disk], "size", size_text(want))


def pending_lines(g):
    # pve-guest-common src/PVE/GuestHelpers.pm format_pending.
    out = ""
    pend, pdel, conf = g.get("pending", {}), g.get("pending_delete", []), g["config"]
    for k in sorted(set(conf) | set(pend)):
        if k in pdel:
            out += f"del {k}: {conf[k]}\n"
        elif k in pend:
            out += (f"cur {k}: {conf[k]}\n" if k in conf else "") + f"new {k}: {pend[k]}\n"
        else:
            out += f"cur {k}: {conf[k]}\n"
    return out
