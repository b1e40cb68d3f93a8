//! A container's user and group id map: its definition's `id_maps`, checked, and
//! the map Proxmox applies ([`IdMap`]). Everything that needs the map reads it
//! through [`Guest::id_map`](super::Guest::id_map): the `lxc.idmap` lines phoenix
//! writes, the host ranges root must be allowed to map, the owner of a new bind
//! mount directory.
//!
//! How the map is made, as pve-container makes it (`PVE::LXC::update_lxc_config`
//! and `parse_id_maps`):
//!
//! * a config with `lxc.idmap` lines has exactly those, for both kinds: Proxmox adds
//!   none of its own then. So raw `lxc.idmap` lines in `lxc_options` are the map,
//!   as written;
//! * an unprivileged container without any gets `u 0 100000 65536` and
//!   `g 0 100000 65536`;
//! * a privileged one has no map: its ids are the host's.
//!
//! `id_maps` entries replace parts of the unprivileged default. Since Proxmox then
//! adds nothing, the map phoenix writes is complete: the entries, and for every
//! container id (0 to 65535) they leave out, the default's host id (100000 + id).
//! `gid 33 → 33, size 1` becomes `g 0 100000 33`, `g 33 33 1`, `g 34 100034 65502`,
//! and `u 0 100000 65536` for the uids it does not touch. (The shell tool wrote the
//! default whatever the entries said.)
//!
//! Rooms: this file (the types and the effective map) and `checks` (reading and
//! checking `id_maps` and a map as a whole, and bind mount owners under it).

use std::fmt;

mod checks;

pub(crate) use checks::{check_map, check_owner, read_id_maps};

/// How many ids a container has: Proxmox's default map gives it 65536.
pub const CONTAINER_IDS: u32 = 65_536;

/// Where Proxmox's default map puts a container's id 0 on the host.
pub const DEFAULT_HOST_BASE: u32 = 100_000;

/// The largest id Linux has: `(u32)-1` means "no id" and may not be mapped.
const MAX_ID: u64 = u32::MAX as u64 - 1;

/// User or group ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IdKind {
    Uid,
    Gid,
}

impl IdKind {
    pub const BOTH: [IdKind; 2] = [IdKind::Uid, IdKind::Gid];

    /// `u` or `g`, as an `lxc.idmap` line starts.
    pub fn letter(self) -> &'static str {
        match self {
            IdKind::Uid => "u",
            IdKind::Gid => "g",
        }
    }

    /// `uid` or `gid`, as `id_maps` writes the type.
    pub fn name(self) -> &'static str {
        match self {
            IdKind::Uid => "uid",
            IdKind::Gid => "gid",
        }
    }

    /// The host file that lists the ids each user may map (shadow's subordinate
    /// ids, read by `newuidmap`/`newgidmap`).
    pub fn subid_file(self) -> &'static str {
        match self {
            IdKind::Uid => "/etc/subuid",
            IdKind::Gid => "/etc/subgid",
        }
    }
}

/// One range of a map: container ids `container..container+size` are host ids
/// `host..host+size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub kind: IdKind,
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

impl IdRange {
    fn container_end(&self) -> u64 {
        u64::from(self.container) + u64::from(self.size)
    }

    fn host_end(&self) -> u64 {
        u64::from(self.host) + u64::from(self.size)
    }

    /// The host id of container id `id`, when the range holds it.
    pub fn host_of(&self, id: u64) -> Option<u64> {
        (u64::from(self.container)..self.container_end())
            .contains(&id)
            .then(|| id - u64::from(self.container) + u64::from(self.host))
    }

    /// Whether its host ids lie in the block of Proxmox's default map
    /// (100000..165535), which a Proxmox host already lets root map.
    pub fn in_default_block(&self) -> bool {
        self.host >= DEFAULT_HOST_BASE
            && self.host_end() <= u64::from(DEFAULT_HOST_BASE) + u64::from(CONTAINER_IDS)
    }
}

impl fmt::Display for IdRange {
    /// As the value of an `lxc.idmap` line: `g 33 33 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.kind.letter(),
            self.container,
            self.host,
            self.size
        )
    }
}

/// Where a container's map comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapOrigin {
    /// A privileged container without `lxc.idmap` lines: no map, host ids.
    None,
    /// An unprivileged container with neither `id_maps` nor raw lines: Proxmox's
    /// `u 0 100000 65536` and `g 0 100000 65536`, which Proxmox adds itself.
    ProxmoxDefault,
    /// `id_maps`, holes filled with the default's ids: phoenix writes these lines.
    IdMaps,
    /// Raw `lxc.idmap` lines of `lxc_options`, as written (and written with them).
    RawLines,
}

/// A container's effective map (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMap {
    pub origin: MapOrigin,
    /// Uids then gids, each by container id (raw lines: in their order).
    pub ranges: Vec<IdRange>,
}

impl IdMap {
    /// No map: ids are the host's.
    pub fn none() -> IdMap {
        IdMap {
            origin: MapOrigin::None,
            ranges: Vec::new(),
        }
    }

    /// The map of a container from its `unprivileged` flag, its `id_maps` entries
    /// and its `lxc_options` (raw lines that do not parse are left out; the
    /// definitions' checks report them).
    pub fn effective(unprivileged: bool, id_maps: &[IdRange], lxc_options: &[String]) -> IdMap {
        let raw: Vec<IdRange> = raw_idmap_lines(lxc_options)
            .into_iter()
            .filter_map(|(_, r)| r.ok())
            .collect();
        if !raw.is_empty() {
            return IdMap {
                origin: MapOrigin::RawLines,
                ranges: raw,
            };
        }
        if !unprivileged {
            return IdMap::none();
        }
        if id_maps.is_empty() {
            return IdMap {
                origin: MapOrigin::ProxmoxDefault,
                ranges: filled(&[]),
            };
        }
        IdMap {
            origin: MapOrigin::IdMaps,
            ranges: filled(id_maps),
        }
    }

    /// The host id of container id `id`: the id itself without a map, `None` where
    /// the map does not hold it.
    pub fn host_id(&self, kind: IdKind, id: u64) -> Option<u64> {
        if self.origin == MapOrigin::None {
            return Some(id);
        }
        self.ranges
            .iter()
            .filter(|r| r.kind == kind)
            .find_map(|r| r.host_of(id))
    }

    /// The `lxc.idmap` config lines phoenix writes for this map (only a map made
    /// from `id_maps`: raw lines are written as the user wrote them, and Proxmox
    /// adds its default itself).
    pub fn config_lines(&self) -> Vec<String> {
        if self.origin != MapOrigin::IdMaps {
            return Vec::new();
        }
        self.ranges
            .iter()
            .map(|r| format!("lxc.idmap: {r}"))
            .collect()
    }

    /// The ranges of `kind` whose host ids lie outside Proxmox's default block:
    /// the ones root must be allowed in the host's `/etc/subuid` or `/etc/subgid`
    /// before the container can start.
    pub fn ranges_outside_default(&self, kind: IdKind) -> Vec<IdRange> {
        self.ranges
            .iter()
            .filter(|r| r.kind == kind && !r.in_default_block())
            .copied()
            .collect()
    }
}

/// The map of `id_maps` with its holes filled: for each kind, the entries and, for
/// every container id from 0 to 65535 they leave out, the default's host id.
fn filled(id_maps: &[IdRange]) -> Vec<IdRange> {
    let mut out = Vec::new();
    for kind in IdKind::BOTH {
        let mut own: Vec<IdRange> = id_maps.iter().filter(|r| r.kind == kind).copied().collect();
        own.sort_by_key(|r| r.container);
        let hole = |from: u32, to: u32| {
            (to > from).then_some(IdRange {
                kind,
                container: from,
                host: DEFAULT_HOST_BASE.saturating_add(from),
                size: to - from,
            })
        };
        let mut next: u32 = 0;
        for r in own {
            out.extend(hole(next, r.container));
            out.push(r);
            next = next.max(u32::try_from(r.container_end()).unwrap_or(CONTAINER_IDS));
        }
        out.extend(hole(next, CONTAINER_IDS));
    }
    out
}

/// A raw `lxc_options` entry split into key and value: `key=value`, `key: value`
/// and the fixtures' `lxc.mount.auto:sys:rw` (whichever of `=` and `:` comes
/// first separates them), both trimmed.
pub fn split_raw_option(option: &str) -> Option<(&str, &str)> {
    let option = option.trim();
    let (key, value) = match (option.find('='), option.find(':')) {
        (Some(e), Some(c)) if c < e => (&option[..c], &option[c + 1..]),
        (Some(e), _) => (&option[..e], &option[e + 1..]),
        (None, Some(c)) => (&option[..c], &option[c + 1..]),
        (None, None) => return None,
    };
    Some((key.trim(), value.trim()))
}

/// The `lxc.idmap` entries of `lxc_options`, by index: each parsed, or its value
/// where it does not parse.
pub(crate) fn raw_idmap_lines(lxc_options: &[String]) -> Vec<(usize, Result<IdRange, String>)> {
    lxc_options
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let (key, value) = split_raw_option(o)?;
            (key == "lxc.idmap").then(|| (i, parse_idmap_value(value).ok_or(value.to_string())))
        })
        .collect()
}

/// `u|g <container> <host> <count>`, as pve-container's `parse_id_maps` takes it
/// (`/^([ug])\s+(\d+)\s+(\d+)\s+(\d+)\s*$/`), each number an id Linux has.
fn parse_idmap_value(value: &str) -> Option<IdRange> {
    let words: Vec<&str> = value.split_whitespace().collect();
    let [kind, container, host, size] = words.as_slice() else {
        return None;
    };
    let kind = match *kind {
        "u" => IdKind::Uid,
        "g" => IdKind::Gid,
        _ => return None,
    };
    let number = |w: &str| {
        w.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| w.parse::<u32>().ok())
            .flatten()
    };
    Some(IdRange {
        kind,
        container: number(container)?,
        host: number(host)?,
        size: number(size)?,
    })
}

/// Whether `value` is `u|g` and three numbers, whatever their size.
fn is_idmap_shaped(value: &str) -> bool {
    let words: Vec<&str> = value.split_whitespace().collect();
    matches!(words.as_slice(), ["u" | "g", a, b, c]
        if [a, b, c].iter().all(|w| w.bytes().all(|x| x.is_ascii_digit())))
}

#[cfg(test)]
#[path = "idmap_tests.rs"]
mod tests;
