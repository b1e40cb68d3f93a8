"""Tasks, as Proxmox runs an asynchronous API call (pve-common
src/PVE/RESTEnvironment.pm fork_worker): the call answers with the task's UPID
and the work goes on in a worker whose output is the task log.

- The UPID is pve-common src/PVE/UPID.pm encode's
  `UPID:$node:$pid:$pstart:$starttime:$type:$id:$user:` (pid, pstart and
  starttime as 8 hex digits); the user of a token is `user@realm!tokenid`.
- GET /nodes/{node}/tasks/{upid}/status (pve-manager src/PVE/API2/Tasks.pm
  read_task_status) is `running` while the worker runs, then `stopped` with
  `exitstatus`: `OK`, or the error (fork_worker ends the log with
  `TASK ERROR: $err`, its newlines made spaces; PVE::UPID::read_status returns
  what follows `TASK ERROR: `). A UPID the node does not have is the parameter
  error `upid: no such task`.
- GET .../log (Tasks.pm read_task_log) gives lines `{n, t}` from `start`
  (default 0), at most `limit` (default 50), and the total line count.

A task's work runs under the cluster's lock, after `delay` seconds (0 by
default: it has ended before the call answers; a test of polling sets a delay).
"""
import itertools
import threading
import time

from pve_cluster import ParamError
from pve_model import Refused


class Tasks:
    def __init__(self, cluster, delay=0.0):
        # pve_state.Cluster: .lock, .reload(), .begin(), .touch(), .saved(),
        # .discard() (drops what was not written).
        self.cluster = cluster
        self.delay = delay
        self.tasks = {}
        self.pids = itertools.count(4000)

    def start(self, node, kind, vmid, user, work, release=None):
        """Start a task; return its UPID. `release()` (dropping the locks the
        call took) runs when the task's work starts; `work(log)` does what
        Proxmox does in the worker: a `Refused` from it fails the task, and
        the state goes back to what was last written (before the call, for a
        task that runs at once). Call with the cluster's lock held."""
        pid = next(self.pids)
        now = int(time.time())
        upid = f"UPID:{node}:{pid:08X}:{pid * 7:08X}:{now:08X}:{kind}:{vmid}:{user}:"
        task = {"upid": upid, "node": node, "pid": pid, "pstart": pid * 7, "starttime": now, "type": kind,
                "id": str(vmid), "user": user, "status": "running", "log": []}
        self.tasks[upid] = task
        if self.delay <= 0:
            self._run(task, work, release)
        else:
            threading.Thread(target=self._later, args=(task, work, release), daemon=True).start()
        return upid

    def _later(self, task, work, release):
        time.sleep(self.delay)
        with self.cluster.lock:
            self.cluster.reload()
            self.cluster.begin()
            self.cluster.touch()
            self._run(task, work, release)
            self.cluster.saved()

    def _run(self, task, work, release):
        log = task["log"].append
        if release:
            release()
        err = None
        try:
            work(log)
        except Refused as e:
            err = e.msg
        except Exception as e:  # a stand-in bug: fail the task, say what happened
            err = f"stand-in error: {type(e).__name__}: {e}"
        if err is None:
            log("TASK OK")
            task["exitstatus"] = "OK"
        else:
            # What the work changed goes; so do the call's locks (a failed
            # create or clone leaves no guest: its work is all the changes).
            self.cluster.discard()
            if release:
                release()
            err = err.strip().replace("\n", " ")
            log(f"TASK ERROR: {err}")
            task["exitstatus"] = err
        task["status"] = "stopped"

    def find(self, node, upid):
        if not upid.startswith("UPID:") or upid.count(":") != 8:
            raise ParamError({"upid": "unable to parse worker upid"})
        task = self.tasks.get(upid)
        if task is None or task["node"] != node:
            raise ParamError({"upid": "no such task"})
        return task

    def status(self, node, upid):
        task = self.find(node, upid)
        out = {k: task[k] for k in ("upid", "node", "pid", "pstart", "starttime", "type", "id", "user", "status")}
        if task["status"] == "stopped":
            out["exitstatus"] = task["exitstatus"]
        return out

    def log(self, node, upid, start=0, limit=50):
        """(total, lines) of a task's log."""
        lines = self.find(node, upid)["log"]
        return len(lines), [{"n": i + 1, "t": t} for i, t in enumerate(lines)][start:start + limit]

    def running(self):
        return [t["upid"] for t in self.tasks.values() if t["status"] == "running"]
