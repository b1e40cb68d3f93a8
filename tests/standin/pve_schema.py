"""The Proxmox API schema as the stand-in's checks read it.

Parsing 1.2 MB of JSON on every call made the stand-ins slow: `load` keeps a pickle
of what the checks read (a quarter of the size, a third of the load time) in the
stand-in's directory, and the stand-in server (`standin-server.py`) loads it once
for every command it serves (`LOADED`, inherited by the process forked per command).
"""
import json
import os
import pickle

# What the checks never read: text for people, and what an endpoint returns.
UNREAD = ("description", "verbose_description", "title", "typetext", "returns", "permissions")

# Schema file -> (its modification time, the lean schema), filled by `load`.
LOADED = {}


def lean(x):
    if isinstance(x, dict):
        return {k: lean(v) for k, v in x.items() if k not in UNREAD}
    if isinstance(x, list):
        return [lean(v) for v in x]
    return x


def load(state_dir):
    """The schema at $PHOENIX_STANDIN_SCHEMA, without what the checks never read."""
    src = os.environ["PHOENIX_STANDIN_SCHEMA"]
    mtime = os.path.getmtime(src)
    if src in LOADED and LOADED[src][0] == mtime:
        return LOADED[src][1]
    cache = os.path.join(state_dir, ".schema-lean.pickle")
    try:
        if os.path.getmtime(cache) >= mtime:
            data = pickle.load(open(cache, "rb"))
            LOADED[src] = (mtime, data)
            return data
    except OSError:
        pass
    data = lean(json.load(open(src)))
    with open(cache + f".{os.getpid()}", "wb") as f:
        pickle.dump(data, f)
    os.replace(cache + f".{os.getpid()}", cache)
    LOADED[src] = (mtime, data)
    return data
