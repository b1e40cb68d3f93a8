"""Containers' config files, `/etc/pve/lxc/<id>.conf` under a root directory, as
Proxmox keeps them: the main section (settings, and the raw `lxc.*` lines, which
phoenix edits in the file itself), `[pve:pending]`, then one section per
snapshot (pve-container PVE::LXC::Config::write_pct_config). Shared by the CLI
stand-in (which writes every file after a change) and the API stand-in (which
writes those of the guests a call changed, and reads a guest's raw lines back
from its file when a call concerns it).
"""
import os

from pve_model import section


def conf_path(root, gid):
    return f"{root}/etc/pve/lxc/{gid}.conf"


def text(g):
    out = section(g["config"], g.get("raw", []))
    if g.get("pending") or g.get("pending_delete"):
        out += "\n[pve:pending]\n" + section(g.get("pending", {}))
        out += f"delete: {','.join(g['pending_delete'])}\n" if g.get("pending_delete") else ""
    for snap, body in g.get("snapconf", {}).items():
        out += f"\n[{snap}]\n{body}"
    return out


def write(root, gid, g):
    """The file of guest `gid` (None: it is gone), for a container."""
    path = conf_path(root, gid)
    if g is None or g.get("type") != "lxc":
        if os.path.exists(path):
            os.remove(path)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(text(g))
    os.replace(path + ".tmp", path)


def write_all(root, G, files=None):
    """Every guest's file; `files` (gid -> the text its file held, from
    `read_raw`) spares those that already hold theirs (a thousand guests'
    files rewritten for every command made a large cluster crawl)."""
    os.makedirs(f"{root}/etc/pve/lxc", exist_ok=True)
    for name in os.listdir(f"{root}/etc/pve/lxc"):
        if name.split(".")[0] not in G:
            os.remove(f"{root}/etc/pve/lxc/{name}")
    for gid, g in G.items():
        if files is not None and g.get("type") == "lxc" and files.get(gid) == text(g):
            continue
        write(root, gid, g)


def read_raw(root, gid, g):
    """The raw `lxc.*` lines of the main section, from the file (as edited);
    the file's text (None without one)."""
    path = conf_path(root, gid)
    if g.get("type") == "lxc" and os.path.exists(path):
        whole = open(path).read()
        g["raw"] = [l for l in whole.split("\n[", 1)[0].splitlines() if l.startswith("lxc.")]
        return whole
    return None
