"""The endpoints of the API stand-in (pve_api.py), each on the shared model:
pve_guests.py and pve_guest_ops.py for guests, pve_firewall.py for firewall
options and rules, pve_host.py for storage.cfg, pve_cluster.py for nodes,
inventory, cross-node clones and migration, pve_tasks.py for tasks.

Where Proxmox refuses before it forks the worker, the call is refused (HTTP 500
with the message); what Proxmox does in the worker runs in the task, whose
refusal is its exit status:
- before the task: create and clone (pve-container API2/LXC.pm create_vm and
  clone_vm, qemu-server API2/Qemu.pm clone_vm `$load_and_check`), template
  (LXC.pm template's `$updatefn`), the status calls' running checks
  (pve_guest_ops.status_prefork), destroy's (pve_guests.destroy_prefork),
  migrate's (pve_cluster.migrate_prefork), and every config lock
  (AbstractConfig.pm check_lock, unless `skiplock`);
- in the task: start, stop, shutdown, reboot, snapshot, delete snapshot,
  rollback, resize, destroy, migrate, and qemu's asynchronous config (POST).
While a task waits (a task delay), the guest holds the lock Proxmox sets for it:
a clone's source CT `disk` (clone_vm `set_lock($vmid, 'disk')`, so a second clone
of it is refused with "CT is locked (disk)"), the new guest `create` (LXC) or
`clone` (qemu), a snapshot `snapshot`, and so on. The LXC template call
returns a UPID although the schema says null: its code returns fork_worker's.
"""
import hashlib
import re

import pve_cluster
import pve_firewall
import pve_guest_ops
import pve_guests
import pve_host
from pve_cluster import check_lock, node_of
from pve_model import die, storages
from pve_schema import schema_key, typed

ROUTES = []
KIND = r"(?P<kind>lxc|qemu)"
GUEST = rf"/nodes/(?P<node>[^/]+)/{KIND}/(?P<vmid>\d+)"
# pve-container and qemu-server task types (fork_worker's $dtype).
TASK = {"lxc": {"create": "vzcreate", "clone": "vzclone", "start": "vzstart", "stop": "vzstop",
                "shutdown": "vzshutdown", "reboot": "vzreboot", "snapshot": "vzsnapshot",
                "delsnapshot": "vzdelsnapshot", "rollback": "vzrollback", "template": "vztemplate",
                "destroy": "vzdestroy", "migrate": "vzmigrate", "resize": "resize"},
        "qemu": {"create": "qmcreate", "clone": "qmclone", "start": "qmstart", "stop": "qmstop",
                 "shutdown": "qmshutdown", "reboot": "qmreboot", "snapshot": "qmsnapshot",
                 "delsnapshot": "qmdelsnapshot", "rollback": "qmrollback", "template": "qmtemplate",
                 "destroy": "qmdestroy", "migrate": "qmigrate", "resize": "resize", "config": "qmconfig"}}
# Parameters of a config update that are not settings (pve-container
# update_pct_config, qemu-server update_vm_api).
NOT_SETTINGS = {"node", "vmid", "delete", "digest", "revert", "force", "skiplock", "background_delay"}


def route(method, pattern):
    def add(f):
        ROUTES.append((method, re.compile(pattern + "$"), f))
        return f
    return add


def find(method, path):
    for m, rx, f in ROUTES:
        hit = rx.match(path)
        if m == method and hit:
            return f, hit.groupdict()
    return None, None


def live_guest(r, gid):
    """The guest a task works on, looked up when the task runs."""
    g = r.cl.G.get(gid)
    if g is None:
        what = "lxc" if r.kind == "lxc" else "qemu-server"
        die(f"Configuration file 'nodes/{r.node}/{what}/{gid}.conf' does not exist")
    return g


@route("GET", r"/version")
def version(r):
    return {"version": "9.0.3", "release": "9.0", "repoid": "c376a2ef"}


@route("GET", r"/nodes")
def nodes(r):
    return [dict(e, maxmem=e.get("maxmem", 0)) for e in pve_cluster.node_resources(r.cl.S, r.down)]


@route("GET", r"/cluster/resources")
def resources(r):
    kind = r.params.get("type")
    out = []
    if kind in (None, "vm"):
        out += pve_cluster.vm_resources(r.cl.S, r.down, pve_firewall.resources(r.cl.S))
    if kind in (None, "node"):
        out += pve_cluster.node_resources(r.cl.S, r.down)
    if kind in (None, "storage"):
        out += pve_cluster.storage_resources(r.cl.S, r.down)
    return out


@route("GET", r"/cluster/status")
def cluster_status(r):
    return pve_cluster.cluster_status(r.cl.S, r.down)


@route("GET", r"/nodes/(?P<node>[^/]+)/status")
def node_status(r):
    return pve_cluster.node_status(r.cl.S, r.node)


@route("GET", r"/nodes/(?P<node>[^/]+)/storage")
def node_storage(r):
    # pve-storage src/PVE/API2/Storage/Status.pm index: the storages enabled on the node.
    out = []
    for sid, st in pve_cluster.node_storages(r.cl.S, r.node):
        content = st.get("content", "")
        if r.params.get("content") and r.params["content"] not in content.split(","):
            continue
        if r.params.get("storage") not in (None, sid):
            continue
        out.append({"storage": sid, "type": st["type"], "content": content, "active": 1, "enabled": 1,
                    "shared": int(pve_cluster.is_shared(r.cl.S, sid)), "total": 1024 * pve_cluster.GIB,
                    "used": 0, "avail": 1024 * pve_cluster.GIB, "used_fraction": 0.0})
    return out


@route("GET", r"/storage")
def storage_list(r):
    return [dict(v, storage=k) for k, v in sorted(storages(r.cl.S).items())]


@route("GET", r"/storage/(?P<storage>[^/]+)")
def storage_get(r):
    sid = r.params["storage"]
    st = storages(r.cl.S).get(sid) or die(f"storage '{sid}' does not exist")
    return dict(st, storage=sid, digest=hashlib.sha1(repr(sorted(st.items())).encode()).hexdigest())


@route("POST", r"/storage")
@route("PUT", r"/storage/(?P<storage>[^/]+)")
@route("DELETE", r"/storage/(?P<storage>[^/]+)")
def storage_change(r):
    """storage.cfg through pve_host's `pvesm` (add, set, remove)."""
    r.cl.touch()
    opts = {k: v for k, v in r.params.items() if k not in ("type", "storage", "digest")}
    sub = {"POST": "add", "PUT": "set", "DELETE": "remove"}[r.method]
    pos = [r.params["type"], r.params["storage"]] if sub == "add" else [r.params["storage"]]
    pve_host.run(r.c(tool="pvesm", sub=sub, pos=pos, opts=opts))
    return {"storage": r.params["storage"], "type": r.params.get("type")} if sub == "add" else None


@route("GET", rf"/nodes/(?P<node>[^/]+)/{KIND}")
def guest_list(r):
    kind = r.kind
    return [pve_guest_ops.current_status(gid, g) for gid, g in sorted(r.cl.G.items())
            if g["type"] == kind and node_of(g) == r.node]


@route("POST", rf"/nodes/(?P<node>[^/]+)/{KIND}")
def create(r):
    gid = r.params["vmid"]
    r.cl.touch(gid)
    pve_guest_ops.create(r.c(opts=r.params), gid, r.kind, r.params, r.node)

    def work(log):
        log(f"created {'CT' if r.kind == 'lxc' else 'VM'} {gid} on node '{r.node}'")
        if r.params.get("start") == "1":
            pve_guests.start(r.c(), gid, live_guest(r, gid))
    return r.task("create", gid, work, locks=[(gid, "create")])


@route("GET", GUEST)
def guest_index(r):
    r.guest()
    return [{"subdir": s} for s in ("config", "pending", "status", "snapshot", "firewall", "migrate")]


@route("DELETE", GUEST)
def destroy(r):
    gid, g = r.guest(lock=True)
    pve_guests.destroy_prefork(r.c(opts=r.params), gid, g)
    return r.task("destroy", gid, lambda log: pve_guests.destroy(r.c(opts=r.params), gid, live_guest(r, gid)),
                  locks=[(gid, "destroyed")])


@route("POST", GUEST + r"/clone")
def clone(r):
    gid, g = r.guest(lock=True)
    new = r.params["newid"]
    r.cl.touch(new)
    opts = {k: v for k, v in r.params.items() if k not in ("node", "vmid", "newid")}
    pve_guests.clone(r.c(opts=opts, pos=[gid, new]), gid, g, new)
    target = opts.get("target") if opts.get("target") not in (None, r.node, "localhost") else None

    def work(log):
        log(f"creating a clone of {'container' if r.kind == 'lxc' else 'VM'} {gid} with ID {new}")
        if target:
            log(f"moved config of {new} to node '{target}'")
    locks = [(new, "create" if r.kind == "lxc" else "clone")]
    if r.kind == "lxc":
        locks.append((gid, "disk"))
    return r.task("clone", gid, work, locks=locks)


@route("GET", GUEST + r"/config")
def config_get(r):
    gid, g = r.guest()
    if r.params.get("snapshot"):
        conf = pve_guest_ops.snapshot_config(g, r.params["snapshot"])
    elif r.params.get("current") == "1":
        conf = g["config"]
    else:
        conf = pve_guests.merged(g)
    conf = pve_guests.printed(g, conf)
    props = r.config_props()
    out = {k: typed(v, props.get(schema_key(props, k) or "")) for k, v in conf.items()}
    if g.get("raw") and not r.params.get("snapshot"):
        out["lxc"] = [l.split(":", 1) if ":" in l else [l, ""] for l in g["raw"]]
        out["lxc"] = [[k.strip(), v.strip()] for k, v in out["lxc"]]
    out["digest"] = hashlib.sha1(pve_guest_ops.config_text(g).encode()).hexdigest()
    return out


def config_update(r, gid, g):
    """update_pct_config / qemu-server update_vm_api: settings, `delete`, and
    `revert` (drops a pending change)."""
    changes = {k: v for k, v in r.params.items() if k not in NOT_SETTINGS}
    deletes = r.params.get("delete", "").replace(",", " ").replace(";", " ").split()
    for k in r.params.get("revert", "").replace(",", " ").split():
        g.get("pending", {}).pop(k, None)
        if k in g.get("pending_delete", []):
            g["pending_delete"].remove(k)
    if changes or deletes:
        pve_guests.update(r.c(opts=r.params), gid, g, changes, deletes)


@route("PUT", GUEST + r"/config")
def config_put(r):
    gid, g = r.guest(lock=True)
    config_update(r, gid, g)
    return None


@route("POST", rf"/nodes/(?P<node>[^/]+)/(?P<kind>qemu)/(?P<vmid>\d+)/config")
def config_post(r):
    gid, _ = r.guest(lock=True)
    return r.task("config", gid, lambda log: config_update(r, gid, live_guest(r, gid)))


@route("GET", GUEST + r"/pending")
def pending(r):
    return pve_guest_ops.pending(r.guest()[1])


@route("PUT", GUEST + r"/resize")
def resize(r):
    gid, _ = r.guest(lock=True)
    disk, size = r.params["disk"], r.params["size"]
    return r.task("resize", gid, lambda log: pve_guests.resize(r.c(), gid, live_guest(r, gid), disk, size))


@route("POST", GUEST + r"/status/(?P<action>start|stop|shutdown|reboot)")
def status_change(r):
    gid, g = r.guest(lock=r.params.get("skiplock") != "1")
    action = r.match["action"]
    pve_guest_ops.status_prefork(r.kind, action, gid, g)

    def work(log):
        g = live_guest(r, gid)
        if action == "start":
            pve_guests.start(r.c(), gid, g)
        else:
            pve_guest_ops.stop(r.c(), gid, g, action)
    return r.task(action, gid, work)


@route("GET", GUEST + r"/status/current")
def status_current(r):
    gid, g = r.guest()
    return pve_guest_ops.current_status(gid, g)


@route("GET", GUEST + r"/snapshot")
def snapshot_list(r):
    return pve_guest_ops.snapshots(r.guest()[1])


@route("POST", GUEST + r"/snapshot")
def snapshot(r):
    gid, _ = r.guest(lock=True)
    name = r.params["snapname"]
    return r.task("snapshot", gid, lambda log: pve_guests.snapshot(r.c(), gid, live_guest(r, gid), name),
                  locks=[(gid, "snapshot")])


@route("GET", GUEST + r"/snapshot/(?P<snapname>[^/]+)/config")
def snapshot_config(r):
    gid, g = r.guest()
    return pve_guest_ops.snapshot_config(g, r.params["snapname"])


@route("GET", GUEST + r"/snapshot/(?P<snapname>[^/]+)")
def snapshot_index(r):
    r.guest()
    return [{"cmd": "rollback"}, {"cmd": "config"}]


@route("DELETE", GUEST + r"/snapshot/(?P<snapname>[^/]+)")
def delsnapshot(r):
    gid, _ = r.guest(lock=r.params.get("force") != "1")
    name = r.params["snapname"]
    return r.task("delsnapshot", gid, lambda log: pve_guest_ops.delsnapshot(live_guest(r, gid), name),
                  locks=[(gid, "snapshot-delete")])


@route("POST", GUEST + r"/snapshot/(?P<snapname>[^/]+)/rollback")
def rollback(r):
    gid, _ = r.guest(lock=True)
    name = r.params["snapname"]
    return r.task("rollback", gid, lambda log: pve_guests.rollback(r.c(opts=r.params), gid, live_guest(r, gid), name),
                  locks=[(gid, "rollback")])


@route("POST", GUEST + r"/template")
def template(r):
    gid, g = r.guest(lock=True)
    pve_guests.template(r.c(), gid, g)
    return r.task("template", gid, lambda log: log(f"converted {gid} to a template"))


@route("POST", GUEST + r"/migrate")
def migrate(r):
    gid, g = r.guest()
    if r.kind == "lxc":
        check_lock(g)  # pve-container src/PVE/LXC/Migrate.pm prepare
    pve_cluster.migrate_prefork(r.cl.S, gid, g, r.params, r.node)
    params = dict(r.params)
    return r.task("migrate", gid, lambda log: pve_cluster.migrate(r.cl.S, gid, live_guest(r, gid), params, log),
                  locks=[(gid, "migrate")])


@route("GET", GUEST + r"/firewall/(?P<what>options|rules)")
@route("PUT", GUEST + r"/firewall/options")
@route("POST", GUEST + r"/firewall/rules")
@route("GET", GUEST + r"/firewall/rules/(?P<pos>\d+)")
@route("PUT", GUEST + r"/firewall/rules/(?P<pos>\d+)")
@route("DELETE", GUEST + r"/firewall/rules/(?P<pos>\d+)")
def firewall(r):
    """pve_firewall.run, as `pvesh` on the node runs it."""
    r.guest()
    sub = {"GET": "get", "PUT": "set", "POST": "create", "DELETE": "delete"}[r.method]
    opts = {k: v for k, v in r.params.items() if k not in ("node", "vmid", "pos")}
    out = pve_firewall.run(r.c(sub=sub, pos=[r.path], opts=opts))
    return r.json(out) if out else None


@route("POST", rf"/nodes/(?P<node>[^/]+)/(?P<kind>qemu)/(?P<vmid>\d+)/agent/exec")
def agent_exec(r):
    gid, g = r.guest()
    r.cl.touch()  # a cloud-init wait takes its exit code from the state's `cloud_init`
    cmd = r.params["command"]
    return pve_guest_ops.agent_exec(r.cl.S, gid, g, cmd if isinstance(cmd, list) else [cmd],
                                    r.params.get("input-data"), r.bad)


@route("POST", rf"/nodes/(?P<node>[^/]+)/(?P<kind>qemu)/(?P<vmid>\d+)/agent/ping")
def agent_ping(r):
    # qemu-server PVE/API2/Qemu/Agent.pm: every agent command first
    # assert_agent_available, then answers the agent's reply as `result`.
    gid, g = r.guest()
    pve_guest_ops.agent_ready(gid, g)
    return {"result": {}}


@route("PUT", rf"/nodes/(?P<node>[^/]+)/(?P<kind>qemu)/(?P<vmid>\d+)/cloudinit")
def cloudinit_update(r):
    # qemu-server PVE/API2/Qemu.pm cloudinit_update: regenerate the cloud-init
    # drive from the config, synchronously; nothing to answer. The stand-in has no
    # drive: the guest must exist on the node.
    r.guest()
    return None


@route("GET", rf"/nodes/(?P<node>[^/]+)/(?P<kind>qemu)/(?P<vmid>\d+)/agent/exec-status")
def agent_exec_status(r):
    gid, g = r.guest()
    return pve_guest_ops.agent_exec_status(gid, g, r.params["pid"])


@route("POST", rf"/nodes/(?P<node>[^/]+)/(?P<kind>qemu)/(?P<vmid>\d+)/agent/file-write")
def agent_file_write(r):
    gid, g = r.guest()
    pve_guest_ops.agent_file_write(gid, g, r.params["file"], r.params["content"], r.params.get("encode", "1"))
    return None


@route("GET", r"/nodes/(?P<node>[^/]+)/tasks/(?P<upid>[^/]+)/status")
def task_status(r):
    return r.tasks.status(r.node, r.params["upid"])


@route("GET", r"/nodes/(?P<node>[^/]+)/tasks/(?P<upid>[^/]+)/log")
def task_log(r):
    total, lines = r.tasks.log(r.node, r.params["upid"], int(r.params.get("start", 0)),
                               int(r.params.get("limit", 50)))
    r.total = total
    return lines


@route("GET", r"/nodes/(?P<node>[^/]+)/tasks/(?P<upid>[^/]+)")
def task_index(r):
    r.tasks.find(r.node, r.params["upid"])
    return [{"name": "log"}, {"name": "status"}]


def task_name(method, path):
    """The operation an asynchronous call starts (for a failure injected into
    its task), or None for a call that answers at once."""
    rules = [("POST", rf"/nodes/[^/]+/{KIND}", "create"), ("DELETE", GUEST, "destroy"),
             ("POST", GUEST + r"/clone", "clone"), ("POST", GUEST + r"/config", "config"),
             ("PUT", GUEST + r"/resize", "resize"), ("POST", GUEST + r"/snapshot", "snapshot"),
             ("DELETE", GUEST + r"/snapshot/[^/]+", "delsnapshot"),
             ("POST", GUEST + r"/snapshot/[^/]+/rollback", "rollback"), ("POST", GUEST + r"/template", "template"),
             ("POST", GUEST + r"/migrate", "migrate"),
             ("POST", GUEST + r"/status/(?P<action>start|stop|shutdown|reboot)", None)]
    for m, rx, name in rules:
        hit = re.fullmatch(rx, path)
        if m == method and hit:
            return hit.group("kind"), name or hit.group("action")
    return None
