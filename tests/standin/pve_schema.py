"""The Proxmox API schema (`pve-api-schema.json`, the dump of every endpoint's
parameters) and a check of a request's parameters against it, as pve-common's
src/PVE/JSONSchema.pm `validate` / `check_prop` / `check_type` check them, with
their messages: a missing required parameter, one the endpoint does not define
(`additionalProperties 0`), wrong types (a boolean is `0` or `1`, or a JSON
boolean), ranges, lengths, patterns, enumerations, the standard string formats
a client meets here, and property strings key by key.

For the API stand-in (pve_api.py). The CLI stand-in (pve-standin.py) has its own
older copy of the property-string and type checks; it can move to this module.

Loading (`load`, for the CLI stand-in): parsing 1.2 MB of JSON on every call made
the stand-ins slow, so `load` keeps a pickle of what the checks read (a quarter of
the size, a third of the load time) in the stand-in's directory, and the stand-in
server (`standin-server.py`) loads it once for every command it serves (`LOADED`,
inherited by the process forked per command).
"""
import ipaddress
import json
import os
import pickle
import re

NAME_RE = r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?"


def _list(value):
    return [v for v in re.split(r"[,;\s]+", value) if v]


def _storage_id(v):
    # pve-common JSONSchema.pm parse_id ('storage').
    if len(v) < 2:
        return f"storage ID '{v}' cannot be shorter than 2 characters"
    if not re.fullmatch(r"[a-z][a-z0-9\-_.]*[a-z0-9]", v, re.I):
        return f"storage ID '{v}' contains illegal characters"
    return None


# pve-common PVE/ParseUtils.pm $IPV4RE: four parts of up to three digits, each
# at most 255.
IPV4_RE = r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"


def _ip(v):
    """pve-common JSONSchema.pm pve_verify_ip: IPv4 by $IPV4RE, IPv6 (here by
    Python's parser, standing in for $IPV6RE)."""
    if re.fullmatch(IPV4_RE, v):
        return True
    try:
        return ":" in v and ipaddress.IPv6Address(v) is not None
    except ValueError:
        return False


def _ip_with_ll_iface(v):
    # pve-container src/PVE/LXC/Config.pm verify_ip_with_ll_iface: a link-local
    # IPv6 address may carry `%<iface>`.
    m = re.fullmatch(r"(fe80:[^%]+)%(.*)", v)
    return (m is not None and _ip(m.group(1)) and re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_]{1,20}([:.]\d+)?", m.group(2))) or _ip(v)


# pve-common JSONSchema.pm register_format: the verifiers of the formats used by
# the endpoints a client of the stand-in calls; others are not checked.
FORMATS = {
    "address-list": lambda v: next(("value does not look like a valid IP address" for x in _list(v)
                                    if not _ip(x)), None),
    "lxc-ip-with-ll-iface-list": lambda v: next(("value does not look like a valid IP address"
                                                 for x in _list(v) if not _ip_with_ll_iface(x)), None),
    "pve-node": lambda v: None if re.fullmatch(NAME_RE, v) else "value does not look like a valid node name",
    "pve-storage-id": _storage_id,
    "pve-configid": lambda v: None if re.fullmatch(r"[a-z][a-z0-9_-]+", v, re.I)
    else f"invalid configuration ID '{v}'",
    "pve-configid-list": lambda v: next((f"invalid configuration ID '{x}'" for x in _list(v)
                                         if not re.fullmatch(r"[a-z][a-z0-9_-]+", x, re.I)), None),
    "dns-name": lambda v: None if re.fullmatch(rf"({NAME_RE}\.)*{NAME_RE}", v)
    else "value does not look like a valid DNS name",
    "pve-tag-list": lambda v: next(("invalid characters in tag" for x in _list(v)
                                    if not re.fullmatch(r"[a-z0-9_][a-z0-9_\-+.]*", x, re.I)), None),
}


class Schema:
    """The endpoints by path; `lookup` finds the one a concrete path is."""

    def __init__(self, path):
        data = json.load(open(path))
        self.nodes = {}
        stack = list(data)
        while stack:
            n = stack.pop()
            self.nodes[n["path"]] = n
            stack.extend(n.get("children", []))
        self.by_len = {}
        for p in self.nodes:
            segs = p.strip("/").split("/")
            self.by_len.setdefault(len(segs), []).append((segs, p))

    def lookup(self, path):
        """(schema path, path parameters) of a concrete path, literal segments
        preferred over placeholders; None when no endpoint has that shape."""
        segs = path.strip("/").split("/")
        best = None
        for pat, p in self.by_len.get(len(segs), []):
            params, literal = {}, 0
            for a, b in zip(pat, segs):
                if a.startswith("{") and a.endswith("}"):
                    params[a[1:-1]] = b
                elif a == b:
                    literal += 1
                else:
                    break
            else:
                if best is None or literal > best[0]:
                    best = (literal, p, params)
        return best and (best[1], best[2])

    def info(self, spath, method):
        return self.nodes.get(spath, {}).get("info", {}).get(method)

    def returns(self, spath, method):
        return (self.info(spath, method) or {}).get("returns", {})


def is_integer(v):
    return isinstance(v, int) and not isinstance(v, bool) or isinstance(v, str) and re.fullmatch(r"\s*[+-]?\d+\s*", v)


def is_number(v):
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    return isinstance(v, str) and re.fullmatch(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*", v) is not None


def check_type(t, v):
    """JSONSchema.pm check_type: None when `v` is a `t`, else the error."""
    if isinstance(v, (list, dict)):
        if t == "array" and isinstance(v, list) or t == "object" and isinstance(v, dict):
            return None
        return f"type check ('{t}') failed - got {'ARRAY' if isinstance(v, list) else 'HASH'}"
    if t == "array":
        return None  # one value of a form-encoded list
    if t == "boolean":
        ok = isinstance(v, bool) or v in (0, 1, "0", "1") and not isinstance(v, float)
        return None if ok else f"type check ('boolean') failed - got '{v}'"
    if t == "integer" and not is_integer(v):
        return f"type check ('integer') failed - got '{v}'"
    if t == "number" and not is_number(v):
        return f"type check ('number') failed - got '{v}'"
    return None


def check_property_string(value, fmt):
    """A property string (`local-lvm:8,mp=/srv`) against its format: every key
    known, every required key there, each value checked (JSONSchema.pm
    parse_property_string)."""
    keys = set()
    default = [k for k, v in fmt.items() if v.get("default_key")]
    for i, part in enumerate(str(value).split(",")):
        if part == "" and i > 0:
            continue
        if "=" in part:
            k, v = part.split("=", 1)
        elif i == 0 and default:
            k, v = default[0], part
        else:
            return f"format error\n{part}: value without key, but schema does not define a default key"
        if k not in fmt:
            return f"format error\n{k}: property is not defined in schema and the schema does not allow additional properties"
        d = fmt[k]
        if d.get("alias"):
            k, d = d["alias"], fmt[d["alias"]]
        if k in keys:
            return f"format error\n{k}: duplicate key in comma-separated list property"
        keys.add(k)
        err = check_prop(v, d)
        if err:
            return f"format error\n{k}: {err}"
    for k, d in fmt.items():
        if not d.get("optional") and not d.get("default_key") and not d.get("alias") and k not in keys:
            return f"format error\n{k}: property is missing and it is not optional"
    return None


def check_prop(value, d):
    """JSONSchema.pm check_prop for one value: None, or its error."""
    t = d.get("type", "string")
    err = check_type(t, value)
    if err:
        return err
    if t == "array":
        for i, el in enumerate(value if isinstance(value, list) else [value]):
            err = check_prop(el, d.get("items", {}))
            if err:
                return f"[{i}]: {err}"
        return None
    if isinstance(value, bool):
        value = int(value)
    text = str(value)
    fmt = d.get("format")
    if isinstance(fmt, dict):
        err = check_property_string(text, fmt)
        if err:
            return f"invalid format - {err}"
    elif isinstance(fmt, str) and fmt in FORMATS:
        err = FORMATS[fmt](text)
        if err:
            return f"invalid format - {err}"
    if d.get("pattern") and not re.fullmatch(d["pattern"], text):
        return "value does not match the regex pattern"
    if "maxLength" in d and len(text) > d["maxLength"]:
        return f"value may only be {d['maxLength']} characters long"
    if "minLength" in d and len(text) < d["minLength"]:
        return f"value must be at least {d['minLength']} characters long"
    if is_number(text):
        n = float(text)
        if "maximum" in d and n > float(d["maximum"]):
            return f"value must have a maximum value of {d['maximum']}"
        if "minimum" in d and n < float(d["minimum"]):
            return f"value must have a minimum value of {d['minimum']}"
    if "enum" in d and text not in d["enum"]:
        return f"value '{text}' does not have a value in the enumeration '{', '.join(d['enum'])}'"
    return None


def schema_key(props, name):
    """The schema's name for a parameter: `net0` is `net[n]`."""
    if name in props:
        return name
    key = re.sub(r"\d+$", "", name) + "[n]"
    return key if key in props and key != name + "[n]" else None


def check_params(info, params):
    """Every error of `params` (name -> value) against an endpoint's `info`,
    as {name: message} (JSONSchema.pm validate; empty when valid)."""
    spec = info.get("parameters", {})
    props = spec.get("properties", {})
    errors = {}
    for name, value in params.items():
        key = schema_key(props, name)
        if key is None:
            if not spec.get("additionalProperties"):
                errors[name] = "property is not defined in schema and the schema does not allow additional properties"
            continue
        err = check_prop(value, props[key])
        if err:
            errors[name] = err
    for name, d in props.items():
        if "[n]" in name or d.get("optional") or d.get("alias") or name in params:
            continue
        errors[name] = "property is missing and it is not optional"
    return errors


def typed(value, d):
    """A config value as the API returns it: integers and numbers as JSON
    numbers, booleans as 0/1 (pve-container parse_pct_config and qemu-server
    parse_vm_config keep values checked by check_type)."""
    t = (d or {}).get("type")
    try:
        if t in ("integer", "boolean"):
            return int(value)
        if t == "number":
            f = float(value)
            return int(f) if f == int(f) else f
    except (TypeError, ValueError):
        pass
    return value

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
