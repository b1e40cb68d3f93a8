//! What a backend observed on the host: the guests that exist, the stamp phoenix
//! left on each, their snapshots and whether they run.
//!
//! It sits between the planner and the backends: backends produce an [`Inventory`]
//! in one call, the planner reads it, and neither depends on the other.

use std::collections::HashMap;

use crate::graph::NodeId;
use crate::state::NodeRecord;

/// What phoenix stamped on a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stamp {
    /// No stamp: not created by phoenix.
    Foreign,
    /// Created by a build that has not finished it yet.
    Building,
    /// Finished, with this output key.
    Built(String),
}

impl Stamp {
    pub fn parse(text: &str) -> Stamp {
        let text = text.trim();
        if let Some(k) = text.strip_prefix("built:") {
            Stamp::Built(k.to_string())
        } else if text.starts_with("building:") {
            Stamp::Building
        } else {
            Stamp::Foreign
        }
    }
}

/// What the host reports about one guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub stamp: Stamp,
    pub snapshots: Vec<String>,
    pub running: bool,
}

/// Guests that exist on the host. Host steps have no inventory entry.
pub type Inventory = HashMap<NodeId, Observed>;

/// The host as the state directory recorded it: every guest with a completed step
/// exists, stamped with its last recorded key (or `building` before any). This is
/// the dry-run backend's host, so `plan` works without touching a real one.
pub fn from_records<'a>(records: impl IntoIterator<Item = (NodeId, &'a NodeRecord)>) -> Inventory {
    records
        .into_iter()
        .filter(|(id, r)| id.guest_id().is_some() && !r.steps.is_empty())
        .map(|(id, r)| {
            let stamp = r
                .last_key()
                .map_or(Stamp::Building, |k| Stamp::Built(k.to_string()));
            (
                id,
                Observed {
                    stamp,
                    snapshots: Vec::new(),
                    running: true,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_parse_and_anything_else_is_foreign() {
        assert_eq!(Stamp::parse(" built:abc\n"), Stamp::Built("abc".into()));
        assert_eq!(Stamp::parse("building:def"), Stamp::Building);
        assert_eq!(Stamp::parse("hand-made"), Stamp::Foreign);
        assert_eq!(Stamp::parse(""), Stamp::Foreign);
    }

    #[test]
    fn recorded_guests_exist_and_host_steps_or_empty_records_do_not() {
        let mut built = NodeRecord::new("ct:950");
        built.steps.push(crate::state::StepRecord {
            step: crate::step::Step::Define,
            key: "k1".into(),
            manifest: crate::state::RecordedManifest::new(&crate::key::Manifest::new()),
            finished_at: 0,
        });
        let empty = NodeRecord::new("ct:951");
        let host = built.clone();
        let inv = from_records([
            (NodeId::Ct(950), &built),
            (NodeId::Ct(951), &empty),
            (NodeId::Host("zfs"), &host),
        ]);
        assert_eq!(inv.len(), 1);
        assert_eq!(inv[&NodeId::Ct(950)].stamp, Stamp::Built("k1".into()));
    }
}
