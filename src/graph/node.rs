//! Node identities and edge kinds: the vocabulary of the graph, which every later
//! stage (keys, plan, executor, reports) speaks.

use std::fmt;

use crate::defs::GuestKind;

/// A node's identity, printed as `host:zfs`, `ct:950`, `vm:9000`. Ordered hosts
/// first, then containers, then VMs, each by name or ID, which keeps every listing stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeId {
    Host(&'static str),
    Ct(u32),
    Vm(u32),
}

impl NodeId {
    pub fn guest(kind: GuestKind, id: u32) -> NodeId {
        match kind {
            GuestKind::Ct => NodeId::Ct(id),
            GuestKind::Vm => NodeId::Vm(id),
        }
    }

    /// The guest a label (`ct:950`, `vm:1001`) names, as [`fmt::Display`] writes it;
    /// `None` for a host step's label or anything else.
    pub fn parse_guest(label: &str) -> Option<NodeId> {
        let (kind, id) = label.split_once(':')?;
        // As written by `Display`: digits only, no sign or spaces.
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let id = id.parse().ok()?;
        match kind {
            "ct" => Some(NodeId::Ct(id)),
            "vm" => Some(NodeId::Vm(id)),
            _ => None,
        }
    }

    pub fn guest_id(self) -> Option<u32> {
        match self {
            NodeId::Ct(id) | NodeId::Vm(id) => Some(id),
            NodeId::Host(_) => None,
        }
    }

    pub fn kind_name(self) -> &'static str {
        match self {
            NodeId::Host(_) => "host",
            NodeId::Ct(_) => "ct",
            NodeId::Vm(_) => "vm",
        }
    }

    /// A name safe for file names and diagram identifiers: `ct-950`.
    pub fn slug(self) -> String {
        match self {
            NodeId::Host(s) => format!("host-{s}"),
            NodeId::Ct(id) => format!("ct-{id}"),
            NodeId::Vm(id) => format!("vm-{id}"),
        }
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeId::Host(s) => write!(f, "host:{s}"),
            NodeId::Ct(id) => write!(f, "ct:{id}"),
            NodeId::Vm(id) => write!(f, "vm:{id}"),
        }
    }
}

impl NodeId {
    /// `f` of the name `Display` writes, made on the stack for a guest: a plan and
    /// a graph name every node, some several times, and a plan looks each node's
    /// record up by its name; going through the formatting machinery was a third of
    /// writing a plan out.
    pub fn with_name<R>(self, f: impl FnOnce(&str) -> R) -> R {
        let (prefix, id) = match self {
            NodeId::Host(name) => return f(&format!("host:{name}")),
            NodeId::Ct(id) => (b"ct:", id),
            NodeId::Vm(id) => (b"vm:", id),
        };
        // `ct:` and the ten digits of the largest u32.
        let mut buf = [0u8; 13];
        let mut at = buf.len();
        let mut rest = id;
        loop {
            at -= 1;
            buf[at] = b"0123456789"[(rest % 10) as usize];
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        at -= prefix.len();
        buf[at..at + prefix.len()].copy_from_slice(prefix);
        // ASCII throughout, so always text.
        f(std::str::from_utf8(&buf[at..]).unwrap_or_default())
    }
}

impl serde::Serialize for NodeId {
    /// The name `Display` writes ([`NodeId::with_name`]).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.with_name(|name| s.serialize_str(name))
    }
}

/// What an edge means (DESIGN §2): **clone** and **host** can carry content into a
/// key, **depends** only orders the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeKind {
    Clone,
    Depends,
    Host,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Clone => "clone",
            EdgeKind::Depends => "depends",
            EdgeKind::Host => "host",
        }
    }
}

/// A map keyed by [`NodeId`], hashed by [`FastHasher`](crate::fasthash::FastHasher):
/// the graph's lookups were a tenth of building it at 10,000 guests with the
/// standard hasher.
pub type NodeMap<V> = crate::fasthash::FastMap<NodeId, V>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A guest's label reads back as the guest; nothing else reads as one.
    #[test]
    fn a_guest_label_reads_back_as_its_node() {
        for n in [NodeId::Ct(100), NodeId::Vm(1001), NodeId::Ct(u32::MAX)] {
            assert_eq!(NodeId::parse_guest(&n.to_string()), Some(n));
        }
        for bad in [
            "host:zfs",
            "ct:",
            "ct:+9",
            "ct: 9",
            "lxc:900",
            "900",
            "ct:4294967296",
        ] {
            assert_eq!(NodeId::parse_guest(bad), None, "{bad}");
        }
    }

    /// A node's name as made on the stack, and its JSON name, are its displayed
    /// one: digit by digit for a guest, at every length of ID.
    #[test]
    fn a_nodes_json_name_is_its_displayed_name() {
        let ids = [0, 7, 10, 99, 100, 950, 1_000_000, 999_999_999, u32::MAX];
        let nodes = ids
            .into_iter()
            .flat_map(|i| [NodeId::Ct(i), NodeId::Vm(i)])
            .chain([NodeId::Host("zfs"), NodeId::Host("gpu_init")]);
        for n in nodes {
            let json = serde_json::to_string(&n).expect("a name");
            assert_eq!(json, format!("\"{n}\""));
            assert_eq!(n.with_name(str::to_string), n.to_string());
        }
    }

    /// Every guest of a large tree, and the host steps, land in a map of their own
    /// buckets well spread: no two nodes hash alike.
    #[test]
    fn nodes_hash_apart() {
        use std::hash::BuildHasher;
        let build = std::hash::BuildHasherDefault::<crate::fasthash::FastHasher>::default();
        let mut seen = std::collections::HashSet::new();
        let nodes = (0..200_000u32)
            .flat_map(|i| [NodeId::Ct(i), NodeId::Vm(i)])
            .chain(["zfs", "nfs", "network", "nvidia", "gpu_init", "dns"].map(NodeId::Host));
        for n in nodes {
            assert!(
                seen.insert(build.hash_one(n)),
                "{n} hashes like another node"
            );
        }
        let mut map: NodeMap<u32> = NodeMap::default();
        map.insert(NodeId::Ct(900), 1);
        map.insert(NodeId::Vm(900), 2);
        assert_eq!((map[&NodeId::Ct(900)], map[&NodeId::Vm(900)]), (1, 2));
    }
}
