"""`pvesh` on the stand-in host: `/cluster/resources`, `/storage`, and a guest's
firewall rules and options as pve-firewall's API keeps them.
"""
import json
import re

from pve_cluster import ParamError
from pve_model import NODE, die, storages

# The fields of a rule the API returns (pve-firewall src/PVE/Firewall.pm $rule_properties).
RULE_FIELDS = ("type", "action", "macro", "enable", "source", "dest", "sport", "dport", "proto",
               "iface", "log", "icmp-type", "comment")


# pve-firewall src/PVE/Firewall.pm $PROTOCOLS_WITH_PORTS and $proto_is_icmp.
PROTOCOLS_WITH_PORTS = {"udp", "17", "udplite", "136", "tcp", "6", "dccp", "33", "sctp", "132"}
ICMP = {"icmp", "icmpv6", "ipv6-icmp"}


def etc_names(path, pattern):
    """Firewall.pm parse_protocol_file / get_etc_services: the names (group 1) and
    ids (group 2) of the lines of `path` that match `pattern`."""
    names = set()
    try:
        with open(path) as f:
            for line in f:
                m = None if line.startswith("#") else re.match(pattern, line.rstrip("\n"))
                if m:
                    names.update((m.group(1), m.group(2)))
    except OSError:
        pass
    return names


def protocols():
    # get_etc_protocols adds `icmpv6` under both its name and id.
    return etc_names("/etc/protocols", r"^(\S+)\s+(\d+)(?:\s+.*)?$") | {"icmpv6"}


def port_error(text, icmp):
    """Firewall.pm parse_port_name_number_or_range: why `text` is refused, or None.
    With `icmp` (a dport of an ICMP rule) ICMP type names pass; this stand-in takes
    any name there."""
    services = etc_names("/etc/services", r"^(\S+)\s+(\S+)/(tcp|udp|sctp).*$")
    items = text.split(",")
    while items and items[-1] == "":  # Perl's split drops trailing empty fields
        items.pop()
    if text != ",".join(items):
        return "extraneous commas in list"
    count, icmp_port = 0, False
    for item in items:
        m = re.fullmatch(r"([0-9]+):([0-9]+)", item)
        if m:
            count += 2
            a, b = int(m.group(1)), int(m.group(2))
            for p in (a, b):
                if p > 65535:
                    return f"invalid port '{p}'"
            if a > b:
                return f"backwards range '{a}:{b}' not allowed, did you mean '{b}:{a}'?"
        elif re.fullmatch(r"[0-9]+", item):
            count += 1
            if int(item) > 65535:
                return f"invalid port '{item}'"
        elif icmp:
            icmp_port = True
        elif item not in services:
            return f"invalid port '{item}'"
    if icmp_port and count > 0:
        return "ICMP ports not allowed in port range"
    if count > 15:
        return "too many entries in port list (> 15 numbers)"
    return None


def given(value):
    """Perl's truth, which verify_rule asks of each field: not empty, not "0"."""
    return value not in (None, "", "0")


def quad(text):
    """A full IPv4 quad as its number; None for any other form, which this
    stand-in does not judge; Net::IP's error for a part above 255."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and p.isascii() for p in parts):
        return None
    n = 0
    for p in parts:
        if int(p) > 255:
            raise ValueError(f"Invalid quad in IP address {text} - {p}")
        n = n << 8 | int(p)
    return n


def net_ip_error(elem):
    """What Net::IP->new (libnet-ip-perl) says of an element in the forms this
    stand-in judges (full IPv4 quads, with a prefix or as a range), or None."""
    try:
        if "-" in elem:
            a, b = (x.strip() for x in elem.split("-", 1))
            qa, qb = quad(a), quad(b)
            if qa is not None and qb is not None and qa > qb:
                return f"Begin address is greater than End address {a} - {b}"
        elif "/" in elem:
            ip, length = elem.split("/", 1)
            q = quad(ip)
            if q is not None and length.isdigit():
                n = int(length)
                if n > 32:
                    return f"Prefix length {n} is longer than IP address (32)"
                if q & ((1 << (32 - n)) - 1):
                    return f"Invalid prefix {q:032b}/{n}"
        else:
            quad(elem)
    except ValueError as e:
        return str(e)
    return None


def address_error(text):
    """Firewall.pm parse_address_list: why `text` is refused, or None."""
    if re.fullmatch(r"\+\S+", text) or re.fullmatch(r"(dc/|guest/)?[A-Za-z][A-Za-z0-9\-_]+", text):
        return None  # an IP set or an alias (whether it exists is not checked here)
    items = text.split(",")
    while items and items[-1] == "":
        items.pop()
    if text != ",".join(items):
        return "extraneous commas in list"
    version, rng = None, False
    for elem in items:
        if elem == "":
            return "invalid IP address: Invalid chars in IP "
        err = net_ip_error(elem)
        if err:
            return f"invalid IP address: {err}"
        # A range of forms this stand-in does not judge ("web-1") is not counted.
        rng = rng or ("-" in elem and all(quad(x.strip()) is not None or ":" in x for x in elem.split("-", 1)))
        v = 6 if ":" in elem else 4
        if version and v != version:
            return f"detected mixed ipv4/ipv6 addresses in address list '{text}'"
        version = v
    if rng and len(items) > 1:
        return "you can't use a range in a list"
    return None


def verify_rule(rule):
    """Firewall.pm verify_rule, for the fields phoenix sets (proto, dport, sport,
    source, dest), which `create_rule` and `update_rule`
    (src/PVE/API2/Firewall/Rules.pm) run without `noerr`: its first error is
    raised at once as a parameter error, so the checks go in its order and only
    the first is reported."""
    proto = rule.get("proto")
    icmp = given(proto) and proto in ICMP
    if given(proto) and proto not in protocols():
        raise ParamError({"proto": f"unknown protocol '{proto}'"})
    for port in ("dport", "sport"):
        if not given(rule.get(port)):
            continue
        why = port_error(rule[port], icmp and port == "dport")
        if why:
            raise ParamError({port: why})
        if not given(proto):
            raise ParamError({"proto": f"missing property - '{port}' requires this property"})
        if proto not in PROTOCOLS_WITH_PORTS and not (icmp and port == "dport"):
            raise ParamError({port: f"protocol '{proto}' does not support ports"})
    for field in ("source", "dest"):
        if given(rule.get(field)):
            why = address_error(rule[field])
            if why:
                raise ParamError({field: why})


def resources(S):
    # pve-manager src/PVE/API2/Cluster.pm resources, src/PVE/API2Tools.pm
    # extract_vm_stats: `tags` and `lock` are the main section's raw strings, present
    # only when set.
    out = []
    for k, g in S["guests"].items():
        e = {"id": f"{g['type']}/{k}", "vmid": int(k), "type": g["type"], "node": g.get("node", NODE),
             "status": g["status"], "template": int(g.get("template", 0))}
        name = g["config"].get("hostname" if g["type"] == "lxc" else "name")
        if name:
            e["name"] = name
        for p in ("tags", "lock"):
            if p in g["config"]:
                e[p] = g["config"][p]
        out.append(e)
    return out


def rules_of(G, path, node=NODE):
    """The guest of a firewall path on `node` (the node the request runs on)."""
    m = re.search(r"/(lxc|qemu)/(\d+)/firewall", path)
    g = G.get(m.group(2))
    if g is None or g["type"] != m.group(1) or g.get("node", NODE) != node:
        what = "lxc" if m.group(1) == "lxc" else "qemu-server"
        die(f"Configuration file 'nodes/{node}/{what}/{m.group(2)}.conf' does not exist")
    return g


def at(rules, pos):
    # pve-firewall src/PVE/API2/Firewall/Rules.pm get_rule/update_rule/delete_rule.
    if pos >= len(rules):
        die(f"no rule at position {pos}")
    return rules[pos]


def run(c):
    """Run `pvesh`; return what it prints."""
    S, sub, path, opts = c.S, c.sub, c.pos[0], dict(c.opts)
    if sub == "get" and path == "/cluster/resources":
        return json.dumps(resources(S))
    if sub == "get" and path == "/storage":
        return json.dumps([dict(v, storage=k) for k, v in storages(S).items()])
    if "/firewall/" not in path:
        return ""
    g = rules_of(S["guests"], path, getattr(c, "node", NODE))
    # A read leaves the state as it was.
    rules = g.get("rules", []) if sub == "get" else g.setdefault("rules", [])
    m = re.search(r"/rules/(\d+)$", path)
    if path.endswith("/firewall/rules"):
        if sub == "get":
            return json.dumps([dict({k: r[k] for k in RULE_FIELDS if k in r}, pos=i) for i, r in enumerate(rules)])
        if sub == "create":
            # Rules.pm create_rule: `pos` is accepted and ignored, the rule goes on top;
            # no `enable` means disabled; duplicates are allowed.
            rule = {k: v for k, v in opts.items() if k in RULE_FIELDS}
            verify_rule(rule)
            rule["enable"] = int(opts.get("enable", 0))
            rules.insert(0, rule)
    elif m:
        pos = int(m.group(1))
        rule = at(rules, pos)
        if sub == "get":
            return json.dumps(dict(rule, pos=pos))
        if sub == "delete":
            del rules[pos]  # Rules.pm delete_rule: splice(@$rules, $pos, 1)
        elif sub == "set" and "moveto" in opts:
            # Rules.pm update_rule: other arguments are ignored; the rule goes before
            # the rule that was at index `moveto`, or last when moveto >= count.
            moveto, moved = int(opts["moveto"]), []
            for i, r in enumerate(rules):
                if i == pos:
                    continue
                if i == moveto:
                    moved.append(rule)
                moved.append(r)
            if moveto >= len(rules):
                moved.append(rule)
            rules[:] = moved
        elif sub == "set":
            changed = dict(rule)
            for k in opts.pop("delete", "").replace(",", " ").split():
                changed.pop(k, None)
            changed.update({k: (int(v) if k == "enable" else v) for k, v in opts.items() if k in RULE_FIELDS})
            verify_rule(changed)  # Rules.pm update_rule: the rule as changed
            rule.clear()
            rule.update(changed)
    elif path.endswith("/firewall/options"):
        fw = g.get("firewall", {}) if sub == "get" else g.setdefault("firewall", {})
        if sub == "get":
            return json.dumps(fw)
        # pve-firewall src/PVE/API2/Firewall/VM.pm set_options: merged, `delete` removes.
        for k in opts.pop("delete", "").replace(",", " ").split():
            fw.pop(k, None)
        opts.pop("digest", None)
        fw.update({k: int(v) if v.isdigit() else v for k, v in opts.items()})
    return ""
