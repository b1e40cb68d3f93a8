"""The API stand-in's state store: the cluster's `state.json` in memory, the
lock every change holds, and writing it after each change.

A change is written through (the file is current when a call has answered), but
only the guests a call touched are serialized again: each guest's last written
JSON is kept, so a call costs one guest's encoding, not the cluster's (a
thousand guests are ~300 kB of JSON). The same copies undo a refused call: its
touched guests go back to what was last written. A call that changes anything
beyond its guests (storages, the agent's queued exit codes) touches all.
A file changed on disk by someone else (a test seeding state, the CLI
stand-in run on a node through the fake ssh) is read again. The lock is also a
file lock (flock on DIR/.lock, the one pve-standin.py takes for its whole run):
a CLI command and an API call never interleave their read and write of the file.
"""
import fcntl
import json
import os
import threading

import pve_conf


class StateLock:
    """The threads' lock and, while any thread holds it, the flock on `path`
    (re-entrant like the RLock it wraps)."""

    def __init__(self, path):
        self.threads = threading.RLock()
        self.file = open(path, "a")
        self.depth = 0

    def __enter__(self):
        self.threads.acquire()
        if self.depth == 0:
            fcntl.flock(self.file, fcntl.LOCK_EX)
        self.depth += 1
        return self

    def __exit__(self, *exc):
        self.depth -= 1
        if self.depth == 0:
            fcntl.flock(self.file, fcntl.LOCK_UN)
        self.threads.release()


class Cluster:
    def __init__(self, path, root=None):
        self.path = path
        # The nodes' `/`: containers' config files are written there (pve_conf).
        self.root = root
        self.lock = StateLock(os.path.join(os.path.dirname(os.path.abspath(path)), ".lock"))
        self.stamp = None
        self.S = {"guests": {}}
        self.texts, self.rest = {}, "{}"
        self.touched, self.all = set(), True
        self.reload()

    @property
    def G(self):
        return self.S["guests"]

    def begin(self):
        """A new call: nothing touched yet."""
        self.touched, self.all = set(), False

    def touch(self, gid=None):
        """The call changes guest `gid`, or (None) anything."""
        if gid is None:
            self.all = True
        else:
            self.touched.add(str(gid))

    def _stamp(self):
        st = os.stat(self.path)
        return st.st_mtime_ns, st.st_size, st.st_ino

    def reload(self):
        """Read the file again if it is not what this process wrote last."""
        try:
            stamp = self._stamp()
        except FileNotFoundError:
            return
        if stamp != self.stamp:
            self.S = json.load(open(self.path))
            self.S.setdefault("guests", {})
            self.stamp = stamp
            self._encode_all()

    def _encode_all(self):
        self.texts = {gid: json.dumps(g) for gid, g in self.G.items()}
        self.rest = json.dumps({k: v for k, v in self.S.items() if k != "guests"})

    def saved(self):
        """Write the state (after a change)."""
        if self.all:
            self._encode_all()
        else:
            for gid in self.touched:
                if gid in self.G:
                    self.texts[gid] = json.dumps(self.G[gid])
                else:
                    self.texts.pop(gid, None)
        if self.root is not None:
            if self.all:
                pve_conf.write_all(self.root, self.G)
            else:
                for gid in self.touched:
                    pve_conf.write(self.root, gid, self.G.get(gid))
        self.begin()
        guests = ", ".join(f"{json.dumps(gid)}: {text}" for gid, text in self.texts.items())
        rest = self.rest[1:-1]
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("{" + f'"guests": {{{guests}}}' + (f", {rest}" if rest else "") + "}")
        os.replace(tmp, self.path)
        self.stamp = self._stamp()

    def discard(self):
        """Undo what the call changed: back to what was last written."""
        if self.all:
            self.stamp = None
            self.reload()
        else:
            for gid in self.touched:
                if gid in self.texts:
                    self.G[gid] = json.loads(self.texts[gid])
                else:
                    self.G.pop(gid, None)
        self.begin()
