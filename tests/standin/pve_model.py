"""The stand-in's model of a Proxmox host: storages and what their volumes can do,
guest volumes, config sections with pending changes, tags and MAC addresses.

Every refusal is Proxmox's own, with its message; the comment above it names the
Proxmox file and function it comes from (pve-storage, pve-container, qemu-server,
pve-guest-common, pve-common).
"""
import os
import random
import re
import sys

NODE = "pve"


class Refused(SystemExit):
    """A refusal with Proxmox's message: the CLI stand-in exits with `code` (the
    message already on stderr); the API stand-in answers with `msg`."""

    def __init__(self, msg, code=1):
        super().__init__(code)
        self.msg = msg


# The API stand-in answers with the message instead of printing it.
QUIET = False


def die(msg, code=1):
    if not QUIET:
        sys.stderr.write(msg + "\n")
    raise Refused(msg, code)


# The two storages a Proxmox installation defines (pve-manager's default
# storage.cfg); `state["storages"]` (from `pvesm add`, or seeded by a test) adds to
# or overrides them.
DEFAULT_STORAGES = {
    "local": {"type": "dir", "path": "/var/lib/vz", "content": "iso,vztmpl,backup"},
    "local-lvm": {"type": "lvmthin", "vgname": "pve", "thinpool": "data", "content": "rootdir,images"},
}


def storages(S):
    return dict(DEFAULT_STORAGES, **S.get("storages", {}))


def storage_type(S, sid, node=None):
    # pve-storage src/PVE/Storage.pm storage_config: die "storage '$storeid' does not exist\n"
    st = storages(S).get(sid)
    if st is None:
        die(f"storage '{sid}' does not exist")
    if node is not None:
        # storage_check_enabled, then storage_check_node: a storage whose `nodes`
        # list leaves the node out is not there (a cluster's storage.cfg is shared).
        if str(st.get("disable", 0)) == "1":
            die(f"storage '{sid}' is disabled")
        if st.get("nodes") and node not in re.split(r"[,;\s]+", st["nodes"]):
            die(f"storage '{sid}' is not available on node '{node}'")
    return st["type"]


# pve-storage src/PVE/Storage/Plugin.pm @SHARED_STORAGE: these types are shared by
# nature (parse_config sets `shared`); any other is shared when storage.cfg says so.
SHARED_STORAGE = {"iscsi", "nfs", "cifs", "rbd", "cephfs", "iscsidirect", "zfs", "drbd", "pbs"}


def is_shared(S, sid):
    st = storages(S).get(sid) or die(f"storage '{sid}' does not exist")
    return st["type"] in SHARED_STORAGE or str(st.get("shared", 0)) == "1"


# pve-storage volume_has_feature, key `snapshot`: ZFSPoolPlugin/ZFSPlugin, LvmThinPlugin,
# RBDPlugin and BTRFSPlugin snapshot any format; Plugin.pm (Dir, NFS, CIFS, CephFS,
# GlusterFS) and LVMPlugin (thick, PVE 9 volume chains) only qcow2.
SNAPSHOT_ANY = {"zfspool", "zfs", "lvmthin", "rbd", "btrfs"}
SNAPSHOT_QCOW2 = {"dir", "nfs", "cifs", "cephfs", "glusterfs", "lvm"}
# pve-storage volume_has_feature, key `clone`, by the volume's state (`snap` when
# cloning a snapshot, else `base` for a template's base volume, `current` for any
# other): ZFSPoolPlugin/ZFSPlugin `base`; LvmThinPlugin and RBDPlugin `base` and
# `snap`; BTRFSPlugin `base` of any format, `current` and `snap` of raw only.
# Plugin.pm (dir, NFS, CIFS, CephFS, GlusterFS) clones a base volume only into a
# qcow2 one, so never for a container, whose clone_vm passes
# `valid_target_formats => ['raw', 'subvol']`; thick LVM (LVMPlugin.pm) never.
CLONE = {"zfspool": {"base"}, "zfs": {"base"}, "lvmthin": {"base", "snap"}, "rbd": {"base", "snap"},
         "btrfs": {"base", "current", "snap"}}
# pve-storage volume_has_feature, key `template` (`current`): every type above and
# Plugin.pm's, for raw and subvol too; thick LVM has none (LVMPlugin.pm leaves
# `template` out), so pve-container LXC.pm template_create refuses it.
TEMPLATE_NONE = {"lvm"}


def is_base(vol):
    """A template's base volume (pve-storage parse_volname `$isBase`): the volume
    name's last part is `base-...` or ZFS's `basevol-...`; a linked clone's
    `basevol-900-disk-0/subvol-101-disk-0` is not."""
    return re.match(r"(base|basevol)-\d+-", vol.split(":", 1)[-1].split("/")[-1]) is not None


def has_clone_feature(S, vol, snap):
    stype = storage_type(S, vol.split(":")[0])
    key = "snap" if snap else ("base" if is_base(vol) else "current")
    if stype == "btrfs" and key != "base" and volume_format(vol) != "raw":
        return False
    return key in CLONE.get(stype, set())


def prop(value, key, default_key=None):
    """One key of a property string (`local-lvm:vm-1-disk-0,mp=/x,size=4G`)."""
    for i, part in enumerate(value.split(",")):
        if "=" in part:
            k, v = part.split("=", 1)
            if k == key:
                return v
        elif i == 0 and key == default_key:
            return part
    return None


def with_prop(value, key, new):
    parts = [p for p in value.split(",") if not p.startswith(key + "=")]
    return ",".join(parts + ([f"{key}={new}"] if new is not None else []))


def is_volume_key(kind, key):
    if kind == "lxc":
        return key == "rootfs" or re.fullmatch(r"mp\d+", key) is not None
    return re.fullmatch(r"(ide|sata|scsi|virtio)\d+|efidisk0|tpmstate0", key) is not None


def volume(kind, value):
    return prop(value, "volume" if kind == "lxc" else "file", "volume" if kind == "lxc" else "file")


def mount_type(vol):
    # pve-container src/PVE/LXC/Config.pm classify_mountpoint: a path is a bind or
    # device mount, anything else a storage volume.
    if vol.startswith("/dev/"):
        return "device"
    return "bind" if vol.startswith("/") else "volume"


def volumes(kind, config):
    """(key, volume id) of every disk in a config; CD-ROMs (cloud-init included) and
    `none` are skipped as PVE::QemuConfig::has_feature skips them."""
    out = []
    for k in sorted(config):
        if not is_volume_key(kind, k):
            continue
        v = config[k]
        if kind == "qemu" and (prop(v, "media") == "cdrom" or volume(kind, v) == "none"):
            continue
        out.append((k, volume(kind, v)))
    return out


def volume_format(vol):
    m = re.search(r"\.(qcow2|raw|vmdk)$", vol)
    return m.group(1) if m else "raw"


def has_snapshot_feature(S, kind, config):
    # pve-container src/PVE/LXC/Config.pm has_feature (and PVE::QemuConfig::has_feature):
    # every volume must have it; a bind or device mount (a path, no storage) never does
    # (pve-storage PVE::Storage::volume_has_feature returns undef for a path).
    for _, vol in volumes(kind, config):
        if mount_type(vol) != "volume":
            return False
        stype = storage_type(S, vol.split(":")[0])
        fmt = "subvol" if kind == "lxc" and "subvol-" in vol else volume_format(vol)
        if not (stype in SNAPSHOT_ANY or fmt == "qcow2" and stype in SNAPSHOT_QCOW2):
            return False
    return True


def size_text(gib):
    return f"{int(gib)}G" if gib == int(gib) else f"{int(round(gib * 1024))}M"


def size_gib(text):
    m = re.fullmatch(r"([\d.]+)([KMGT]?)", text or "")
    if not m:
        return 0.0
    return float(m.group(1)) * {"K": 1 / 1048576, "M": 1 / 1024, "G": 1, "T": 1024, "": 1}[m.group(2)]


def allocate(S, gid, kind, g, value):
    """A new volume for `<storage>:<size in GiB>` (pct create --rootfs, --mpN, qm --scsiN),
    named as the storage plugins name them; paths and existing volumes are kept."""
    vol = volume(kind, value)
    m = re.fullmatch(r"([^:/,]+):(\d+(?:\.\d+)?|cloudinit)", vol or "")
    if not m:
        if vol and mount_type(vol) == "volume" and ":" in vol:
            storage_type(S, vol.split(":")[0], g.get("node"))
        return value
    sid, size = m.groups()
    stype = storage_type(S, sid, g.get("node"))
    used = " ".join(g.get("config", {}).values()) + " " + " ".join(g.get("pending", {}).values())
    n = 0
    while f"-{gid}-disk-{n}" in used:
        n += 1
    rest = value.split(",")[1:]
    if size == "cloudinit":
        name = f"vm-{gid}-cloudinit" + (".qcow2" if stype in SNAPSHOT_QCOW2 else "")
        return ",".join([f"{sid}:{name}"] + rest + ["media=cdrom"])
    if kind == "lxc" and stype in ("zfspool", "btrfs") or stype in SNAPSHOT_QCOW2 and float(size) == 0 and kind == "lxc":
        name = f"subvol-{gid}-disk-{n}"
    elif stype in SNAPSHOT_QCOW2 and stype != "lvm":
        name = f"{gid}/vm-{gid}-disk-{n}." + (prop(value, "format") or "raw")
    else:
        name = f"vm-{gid}-disk-{n}"
    gib = float(size)
    if any(p.startswith("import-from=") for p in rest):
        gib = 2252 / 1024  # a cloud image's disk
        rest = [p for p in rest if not p.startswith("import-from=")]
    rest = [p for p in rest if not p.startswith("size=")]
    return ",".join([f"{sid}:{name}"] + rest + [f"size={size_text(gib)}"])


def rename_volume(value, kind, src, dst, storage=None, linked=None):
    """A cloned volume: the same name for the new guest, on `storage` if given. A
    linked clone (`linked`: the type of the base volume's storage) is named as that
    storage's clone_image names it: under its base volume on ZFS and RBD
    (ZFSPoolPlugin/RBDPlugin clone_image return "$basename/$name",
    `basevol-900-disk-0/subvol-101-disk-0`), under the clone's own ID on BTRFS
    (BTRFSPlugin clone_image: "$vmid/$newname"), by its own name alone on
    LVM-thin (LvmThinPlugin clone_image returns the new LV's `$name`). A
    template's `base-`/`basevol-` becomes `vm-`/`subvol-` in a full copy."""
    vol = volume(kind, value)
    sid, name = vol.split(":", 1)
    parts = name.split("/")
    last = re.sub(rf"^(base|basevol|vm|subvol)-{src}-",
                  lambda m: f"{'subvol' if m.group(1) in ('subvol', 'basevol') else 'vm'}-{dst}-", parts[-1])
    if linked == "lvmthin":
        new = last
    elif linked == "btrfs":
        new = f"{dst}/{last}"
    elif linked:
        new = f"{parts[-1]}/{last}"
    elif len(parts) > 1 and parts[0] == src:
        new = f"{dst}/{last}"  # a directory storage's `<vmid>/vm-<vmid>-disk-0.raw`
    else:
        new = last
    return value.replace(vol, f"{storage or sid}:{new}", 1)


def ostype_of(template):
    """The `ostype` Proxmox gives a container made from `template`. Proxmox reads
    it from the archive: pve-container src/PVE/API2/LXC.pm create_vm extracts it
    and runs PVE::LXC::Setup->new ("detect OS") before writing the config;
    src/PVE/LXC/Setup.pm $autodetect_type takes ID of the container's
    /etc/os-release (a plugin name or one of $plugin_alias: rocky and almalinux
    are centos, opensuse-leap opensuse, arch archlinux), and the plugin sets it
    (src/PVE/LXC/Setup/Debian.pm: `$conf->{ostype} = "debian"`). The stand-in has
    no archive to open: it infers from the file name (Proxmox's templates are
    named after their distribution, `debian-12-standard_12.7-1_amd64.tar.zst`)
    what Proxmox reads from the archive's /etc/os-release; `None` when the name
    tells nothing."""
    distro = re.split(r"[-_.]", re.split(r"[/:]", template)[-1])[0].lower()
    return {"alpine": "alpine", "archlinux": "archlinux", "arch": "archlinux", "centos": "centos",
            "rockylinux": "centos", "rocky": "centos", "almalinux": "centos", "debian": "debian",
            "devuan": "devuan", "fedora": "fedora", "gentoo": "gentoo", "opensuse": "opensuse",
            "sles": "opensuse", "ubuntu": "ubuntu", "nixos": "nixos", "openeuler": "openeuler"}.get(distro)


def print_lxc_network(value):
    """A container's netN as pve-container stores it once applied
    (PVE::LXC::Config::parse_lxc_network, which adds `type=veth` and a `hwaddr`,
    then print_lxc_network: pve-common PVE::JSONSchema::print_property_string puts
    the required `name` first, then the other keys sorted)."""
    pairs = dict(p.split("=", 1) for p in value.split(",") if "=" in p)
    pairs["type"] = "veth"
    keys = (["name"] if "name" in pairs else []) + sorted(k for k in pairs if k != "name")
    return ",".join(f"{k}={pairs[k]}" for k in keys)


def random_mac():
    # PVE::Tools::random_ether_addr with the datacenter's default prefix BC:24:11.
    return "BC:24:11:" + ":".join(f"{random.randrange(256):02X}" for _ in range(3))


def with_new_mac(kind, value):
    if kind == "lxc":
        return with_prop(value, "hwaddr", random_mac())
    first, *rest = value.split(",")
    model = first.split("=")[0]
    return ",".join([f"{model}={random_mac()}"] + rest)


def with_mac(kind, value):
    """netN as stored: a MAC is assigned when none is given (pve-container
    parse_lxc_network `hwaddr`, qemu-server parse_net `macaddr`)."""
    if kind == "lxc":
        return value if prop(value, "hwaddr") else with_prop(value, "hwaddr", random_mac())
    first = value.split(",")[0]
    if "=" in first and first.split("=")[0] != "macaddr" or prop(value, "macaddr"):
        return value
    return with_new_mac(kind, value)


def unique_tags(value):
    # pve-common src/PVE/ParseUtils.pm split_list (`;`, `,` and whitespace separate),
    # then pve-guest-common src/PVE/GuestHelpers.pm get_unique_tags: lower-cased,
    # de-duplicated, sorted, joined by `;` (datacenter.cfg tag-style defaults).
    return ";".join(sorted({t.lower() for t in re.split(r"[\s,;]+", value) if t}))


def section(config, raw=()):
    return "".join(f"{k}: {config[k]}\n" for k in sorted(config)) + "".join(l + "\n" for l in raw)


def parse_section(text):
    config, raw = {}, []
    for l in text.splitlines():
        if l.startswith("lxc."):
            raw.append(l)
        elif ": " in l:
            k, v = l.split(": ", 1)
            config[k] = v
    return config, raw


def host_path(path):
    return os.environ.get("PHOENIX_PVE_ROOT", "") + path
