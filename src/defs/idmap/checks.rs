//! Reading and checking a container's `id_maps`, the map as a whole (with raw
//! `lxc.idmap` lines and the unprivileged flag), and the owner of a bind mount
//! under the map.

use serde_json::{Map, Value};

use super::{
    CONTAINER_IDS, DEFAULT_HOST_BASE, IdKind, IdMap, IdRange, MAX_ID, MapOrigin, filled,
    is_idmap_shaped, raw_idmap_lines,
};
use crate::defs::read::{self, Fields, Reader, join, quote};
use crate::defs::settings::BindMount;

/// Read and check `id_maps`: each entry's type and numbers, container ids within
/// 0..65535, no container or host id mapped twice, none of the entries' host ids
/// also taken by the default ids that fill the holes. Returns the entries that
/// passed their own checks.
pub(crate) fn read_id_maps(r: &mut Reader, raw: &Fields, p: &str) -> Vec<IdRange> {
    let Some(items) = r.array(raw, p, "id_maps") else {
        return Vec::new();
    };
    let base = join(p, "id_maps");
    let mut out: Vec<(usize, IdRange)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{base}[{i}]");
        let Value::Object(o) = item else {
            r.error(
                ip,
                format!("expected an object, found {}", read::describe(item)),
                "write { \"type\": \"gid\", \"host_id\": 33, \"container_id\": 33, \"size\": 1 }",
            );
            continue;
        };
        for k in o.keys() {
            if !["type", "host_id", "container_id", "size"].contains(&k.as_str()) {
                r.warn(
                    join(&ip, k),
                    format!("unknown field `{}` in an id map entry", quote(k)),
                    "an entry has `type`, `host_id`, `container_id` and `size`; nothing reads the rest",
                );
            }
        }
        let kind = match Reader::get(o, "type") {
            Some(Value::String(t)) if t == "uid" => Some(IdKind::Uid),
            Some(Value::String(t)) if t == "gid" => Some(IdKind::Gid),
            None => {
                r.error(
                    ip.clone(),
                    "missing `type`",
                    "say which ids the entry maps: \"type\": \"uid\" or \"gid\"",
                );
                None
            }
            Some(other) => {
                r.error(
                    join(&ip, "type"),
                    format!(
                        "id map type {} is neither `uid` nor `gid`",
                        read::describe(other)
                    ),
                    "use \"uid\" (user ids) or \"gid\" (group ids)",
                );
                None
            }
        };
        let container = id_number(r, o, &ip, "container_id");
        let host = id_number(r, o, &ip, "host_id");
        let size = id_number(r, o, &ip, "size");
        if size == Some(0) {
            r.error(
                join(&ip, "size"),
                "`size` is 0",
                "an entry maps at least one id: give `size` 1 or more",
            );
        }
        let (Some(kind), Some(container), Some(host), Some(size)) = (kind, container, host, size)
        else {
            continue;
        };
        if size == 0 {
            continue;
        }
        let range = IdRange {
            kind,
            container,
            host,
            size,
        };
        let kind_name = kind.name();
        if range.container_end() > u64::from(CONTAINER_IDS) {
            r.error(
                join(&ip, "container_id"),
                format!(
                    "container {kind_name}s {container} to {} go past 65535",
                    range.container_end() - 1
                ),
                "a container has the ids 0 to 65535 (the 65536 Proxmox maps): lower `container_id` or `size`",
            );
            continue;
        }
        if range.host_end() > MAX_ID + 1 {
            r.error(
                join(&ip, "host_id"),
                format!(
                    "host {kind_name}s {host} to {} go past {MAX_ID}, the largest id Linux has",
                    range.host_end() - 1
                ),
                "lower `host_id` or `size`",
            );
            continue;
        }
        let mut clash = false;
        for (j, other) in out.iter().filter(|(_, o)| o.kind == kind) {
            if let Some(id) = overlap(
                (range.container, range.container_end()),
                (other.container, other.container_end()),
            ) {
                r.error(
                    join(&ip, "container_id"),
                    format!("container {kind_name} {id} is also mapped by {base}[{j}]"),
                    "map each container id once: remove one of the two entries or make them not overlap",
                );
                clash = true;
            } else if let Some(id) = overlap(
                (range.host, range.host_end()),
                (other.host, other.host_end()),
            ) {
                r.error(
                    join(&ip, "host_id"),
                    format!("host {kind_name} {id} is also the target of {base}[{j}]"),
                    "the kernel maps each host id once: give the entries host ranges that do not overlap",
                );
                clash = true;
            }
        }
        if !clash {
            out.push((i, range));
        }
    }
    // The holes get the default's host ids (100000 + container id): an entry may
    // not land on one of those.
    let entries: Vec<IdRange> = out.iter().map(|(_, r)| *r).collect();
    let holes: Vec<IdRange> = filled(&entries)
        .into_iter()
        .filter(|f| !entries.contains(f))
        .collect();
    for (i, range) in &out {
        for hole in holes.iter().filter(|h| h.kind == range.kind) {
            if let Some(id) = overlap((range.host, range.host_end()), (hole.host, hole.host_end()))
            {
                let kind_name = range.kind.name();
                let theirs = u64::from(id) - u64::from(DEFAULT_HOST_BASE);
                r.error(
                    format!("{base}[{i}].host_id"),
                    format!(
                        "host {kind_name} {id} is also where container {kind_name} {theirs} lands by Proxmox's default (100000 + id)"
                    ),
                    format!(
                        "map to host ids outside 100000 to 165535, or map container {kind_name} {theirs} in `id_maps` too"
                    ),
                );
            }
        }
    }
    out.into_iter().map(|(_, r)| r).collect()
}

/// The first id two half-open ranges share.
fn overlap(a: (u32, u64), b: (u32, u64)) -> Option<u32> {
    let start = a.0.max(b.0);
    (u64::from(start) < a.1.min(b.1)).then_some(start)
}

/// One number of an id map entry: a whole number from 0 to 4294967294.
fn id_number(r: &mut Reader, o: &Map<String, Value>, ip: &str, key: &str) -> Option<u32> {
    let Some(v) = Reader::get(o, key) else {
        r.error(
            ip,
            format!("missing `{key}`"),
            "an entry has `type`, `host_id`, `container_id` and `size`, all four",
        );
        return None;
    };
    let path = join(ip, key);
    match v {
        Value::Number(n) => {
            if let Some(id) = n.as_u64().filter(|id| *id <= MAX_ID) {
                return u32::try_from(id).ok();
            }
            let why = if n.as_i64().is_some_and(|i| i < 0) {
                format!("`{key}` is negative ({n})")
            } else if n.as_u64().is_some() {
                format!("`{key}` {n} is larger than {MAX_ID}, the largest id Linux has")
            } else {
                format!("`{key}` {n} is not a whole number")
            };
            r.error(path, why, "ids are whole numbers from 0 to 4294967294");
        }
        other => r.error(
            path,
            format!("expected a whole number, found {}", read::describe(other)),
            "write it as a number without quotes",
        ),
    }
    None
}

/// The checks of a container's map as a whole: `id_maps` need an unprivileged
/// container and no raw `lxc.idmap` lines beside them; raw lines must parse, map
/// each id once and map the container's root (warned where they leave ids of 0 to
/// 65535 out).
pub(crate) fn check_map(
    r: &mut Reader,
    p: &str,
    unprivileged: bool,
    id_maps_given: bool,
    lxc_options: &[String],
) {
    let raw = raw_idmap_lines(lxc_options);
    let option_path = |i: usize| format!("{}[{i}]", join(p, "lxc_options"));
    if id_maps_given && !raw.is_empty() {
        let lines: Vec<String> = raw.iter().map(|(i, _)| option_path(*i)).collect();
        r.error(
            join(p, "id_maps"),
            format!(
                "both `id_maps` and raw `lxc.idmap` lines ({}) give the container's id map",
                lines.join(", ")
            ),
            "keep one: `id_maps` (phoenix writes the whole map, the rest of it Proxmox's default) or the raw lines (the whole map, as written); remove the other",
        );
    }
    if id_maps_given && !unprivileged {
        r.error(
            join(p, "id_maps"),
            "`id_maps` on a privileged container",
            "a privileged container's ids are the host's: set \"unprivileged\": true, or remove `id_maps`",
        );
    }
    let mut parsed: Vec<(usize, IdRange)> = Vec::new();
    for (i, line) in &raw {
        match line {
            Ok(range) if range.size == 0 => r.error(
                option_path(*i),
                format!("`lxc.idmap` `{range}` maps no ids"),
                "give the range a count of 1 or more (the kernel refuses a count of 0)",
            ),
            Ok(range) if range.host_end() > MAX_ID + 1 || range.container_end() > MAX_ID + 1 => {
                r.error(
                    option_path(*i),
                    format!("`lxc.idmap` `{range}` goes past {MAX_ID}, the largest id Linux has"),
                    "lower its start or its count",
                );
            }
            Ok(range) => parsed.push((*i, *range)),
            Err(value) if is_idmap_shaped(value) => r.error(
                option_path(*i),
                format!(
                    "`lxc.idmap` `{}` has a number larger than {MAX_ID}, the largest id Linux has",
                    quote(value)
                ),
                "lower its start or its count",
            ),
            Err(value) => r.error(
                option_path(*i),
                format!(
                    "`lxc.idmap` value `{}` is not `u|g <container id> <host id> <count>`",
                    quote(value)
                ),
                "write it as `lxc.idmap: g 0 100000 65536`; Proxmox refuses to start a container whose idmap it cannot parse",
            ),
        }
    }
    if raw.is_empty() {
        return;
    }
    for (n, (i, range)) in parsed.iter().enumerate() {
        for (j, other) in parsed[..n].iter().filter(|(_, o)| o.kind == range.kind) {
            let side = overlap(
                (range.container, range.container_end()),
                (other.container, other.container_end()),
            )
            .map(|id| ("container", id))
            .or_else(|| {
                overlap(
                    (range.host, range.host_end()),
                    (other.host, other.host_end()),
                )
                .map(|id| ("host", id))
            });
            if let Some((side, id)) = side {
                r.error(
                    option_path(*i),
                    format!(
                        "{side} {} {id} is also mapped by {}",
                        range.kind.name(),
                        option_path(*j)
                    ),
                    "the kernel maps each id once on each side: make the ranges not overlap",
                );
            }
        }
    }
    let map = IdMap {
        origin: MapOrigin::RawLines,
        ranges: parsed.iter().map(|(_, r)| *r).collect(),
    };
    for kind in IdKind::BOTH {
        let kind_name = kind.name();
        if map.host_id(kind, 0).is_none() {
            r.error(
                join(p, "lxc_options"),
                format!("the raw `lxc.idmap` lines map no container {kind_name} 0"),
                format!(
                    "add a `{}` line for container {kind_name} 0 (LXC: \"No {kind_name} mapping for container root\"); Proxmox adds no default beside raw lines",
                    kind.letter()
                ),
            );
            continue;
        }
        let unmapped: Vec<u32> = (0..CONTAINER_IDS)
            .filter(|id| map.host_id(kind, u64::from(*id)).is_none())
            .collect();
        if let (Some(first), Some(last)) = (unmapped.first(), unmapped.last()) {
            r.warn(
                join(p, "lxc_options"),
                format!(
                    "the raw `lxc.idmap` lines leave {} container {kind_name}s of 0 to 65535 unmapped ({first} to {last} among them)",
                    unmapped.len()
                ),
                "files owned by those ids show as nobody in the container: map all 65536, or use `id_maps`, which fills the holes",
            );
        }
    }
}

/// A bind mount's owner that the container's map does not hold: phoenix makes its
/// directory but gives it to nobody in particular; say so where the mount is defined.
pub(crate) fn check_owner(r: &mut Reader, map: &IdMap, ip: &str, b: &BindMount) {
    for (kind, key, id) in [
        (IdKind::Uid, "owner_uid", b.owner_uid),
        (IdKind::Gid, "owner_gid", b.owner_gid),
    ] {
        let id = id.unwrap_or(0);
        if map.host_id(kind, id).is_none() {
            let path = if matches!(kind, IdKind::Uid) && b.owner_uid.is_some()
                || matches!(kind, IdKind::Gid) && b.owner_gid.is_some()
            {
                join(ip, key)
            } else {
                ip.to_string()
            };
            r.warn(
                path,
                format!(
                    "container {} {id} of the bind mount at `{}` is not in the container's id map, so phoenix does not chown a new `{}`",
                    kind.name(),
                    quote(&b.container_path),
                    quote(&b.host_path)
                ),
                "use an id the map holds (0 to 65535 with `id_maps`), or map it",
            );
        }
    }
}
