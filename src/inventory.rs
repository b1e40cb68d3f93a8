//! What a backend observed on the host: the guests that exist, the stamp phoenix
//! left on each, their snapshots and whether they run.
//!
//! It sits between the planner and the backends: backends produce an [`Inventory`]
//! in one call, the planner reads it, and neither depends on the other.
//!
//! The stamp is what phoenix trusts about a guest: the state directory can be lost
//! or damaged, the guest's own stamp goes wherever the guest goes. A finished guest
//! is stamped `built:<output key>`; where the backend can keep text with the guest
//! (the sim's guest record, the lxc `phoenix-stamp` file), lines follow with the
//! key of every step it was built with, its [`Proof`]:
//!
//! ```text
//! built:<output key>
//! <define key> define
//! <configure key> configure
//! <key> feature:base_setup
//! <key> snapshot
//! ```
//!
//! From the proof the planner rebuilds a lost record exactly, so a lost cache costs
//! no step. A Proxmox tag holds only the first 32 hex digits of the output key (a
//! tag is a short word, and the inventory call returns tags only): there, the stamp
//! proves the content, not the settings or the steps (see [`crate::plan`]).

use crate::graph::NodeId;
use crate::key::NodeKeys;
use crate::state::NodeRecord;
use crate::step::Step;

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
    /// The stamp of a stamp's text: its first line (a [`Proof`] may follow).
    pub fn parse(text: &str) -> Stamp {
        let text = text.trim_start().lines().next().unwrap_or_default().trim();
        if let Some(k) = text.strip_prefix("built:") {
            Stamp::Built(k.to_string())
        } else if text.starts_with("building:") {
            Stamp::Building
        } else {
            Stamp::Foreign
        }
    }
}

/// What a `built` stamp proves beyond the output key: the key of every content
/// step the guest was built with, in order, and of its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub chain: Vec<(Step, String)>,
    pub configure: Option<String>,
}

impl Proof {
    /// The proof a guest built with `keys` carries.
    pub fn of(keys: &NodeKeys) -> Proof {
        Proof {
            chain: keys
                .chain
                .iter()
                .map(|s| (s.step.clone(), s.key.hex()))
                .collect(),
            configure: keys.configure.as_ref().map(|c| c.key.hex()),
        }
    }

    /// The proof in a stamp's text, if it has one that holds together: step lines
    /// of full keys, `define` first, the last content key equal to the stamp's own.
    /// Anything else (an older stamp of one line, a damaged one) proves no steps.
    pub fn parse(text: &str) -> Option<Proof> {
        let mut lines = text.trim_start().lines();
        let Stamp::Built(output) = Stamp::parse(lines.next()?) else {
            return None;
        };
        let mut proof = Proof {
            chain: Vec::new(),
            configure: None,
        };
        for line in lines.map(str::trim).filter(|l| !l.is_empty()) {
            let (key, step) = line.split_once(' ')?;
            if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            match step.parse::<Step>().ok()? {
                Step::Configure if proof.configure.is_none() => {
                    proof.configure = Some(key.to_string());
                }
                Step::Configure | Step::Run => return None,
                step => proof.chain.push((step, key.to_string())),
            }
        }
        let starts_with_define = proof.chain.first().is_some_and(|(s, _)| *s == Step::Define);
        (starts_with_define && proof.output() == Some(output.as_str())).then_some(proof)
    }

    /// The output key: the last content step's.
    pub fn output(&self) -> Option<&str> {
        self.chain.last().map(|(_, k)| k.as_str())
    }
}

/// The stamp of a guest built with `keys`: `built:<output key>` and its [`Proof`].
pub fn built_stamp(keys: &NodeKeys) -> String {
    let proof = Proof::of(keys);
    let mut text = format!("built:{}", keys.output());
    let configure = proof
        .configure
        .iter()
        .map(|k| (k.as_str(), Step::Configure));
    let mut lines = proof.chain.iter().map(|(s, k)| (k.as_str(), s.clone()));
    // define, configure, then the rest of the chain: the order the steps run in.
    for (key, step) in lines.next().into_iter().chain(configure).chain(lines) {
        text.push_str(&format!("\n{key} {step}"));
    }
    text
}

/// What the host reports about one guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub stamp: Stamp,
    /// What the stamp proves beyond the output key, where the backend keeps it.
    pub proof: Option<Proof>,
    pub snapshots: Vec<String>,
    pub running: bool,
    /// The cluster node that holds it, where the backend has nodes (pve, api).
    pub node: Option<String>,
}

/// Guests that exist on the host. Host steps have no inventory entry. Hashed by
/// [`FastHasher`](crate::fasthash::FastHasher): a plan looks every node up in it,
/// and a no-op plan builds it from every record.
pub type Inventory = crate::fasthash::FastMap<NodeId, Observed>;

/// The host as the state directory recorded it: every guest with a completed step
/// exists, stamped with its last recorded key (or `building` before any). This is
/// the dry-run backend's host, so `plan` works without touching a real one.
pub fn from_records<'a>(records: impl IntoIterator<Item = (NodeId, &'a NodeRecord)>) -> Inventory {
    let records = records.into_iter();
    // Made at its largest size at once: grown, each larger table is fresh memory.
    let mut out = Inventory::with_capacity_and_hasher(
        records.size_hint().1.unwrap_or(0),
        std::hash::BuildHasherDefault::default(),
    );
    let observed = records
        .filter(|(id, r)| id.guest_id().is_some() && !r.steps.is_empty())
        .map(|(id, r)| {
            let stamp = r
                .last_key()
                .map_or(Stamp::Building, |k| Stamp::Built(k.text()));
            (
                id,
                Observed {
                    stamp,
                    proof: None,
                    snapshots: Vec::new(),
                    running: true,
                    node: None,
                },
            )
        });
    out.extend(observed);
    out
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
        // A proof may follow the first line; the stamp is the first line alone.
        assert_eq!(
            Stamp::parse("built:abc\nabc define\n"),
            Stamp::Built("abc".into())
        );
    }

    fn keys() -> NodeKeys {
        use crate::key::{Manifest, StepKey, step_key};
        let mut chain: Vec<StepKey> = Vec::new();
        for step in [Step::Define, Step::Feature("base".into()), Step::Snapshot] {
            let key = step_key(&step, &Manifest::new(), chain.last().map(|s| s.key));
            chain.push(StepKey {
                step,
                key,
                manifest: Manifest::new(),
            });
        }
        let configure = StepKey {
            step: Step::Configure,
            key: step_key(&Step::Configure, &Manifest::new(), None),
            manifest: Manifest::new(),
        };
        NodeKeys {
            chain,
            configure: Some(configure),
        }
    }

    #[test]
    fn a_built_stamp_carries_every_steps_key_and_reads_back() {
        let keys = keys();
        let text = built_stamp(&keys);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("built:{}", keys.output()));
        assert!(
            lines[1].ends_with(" define") && lines[2].ends_with(" configure"),
            "{text}"
        );
        assert_eq!(Stamp::parse(&text), Stamp::Built(keys.output().hex()));
        assert_eq!(Proof::parse(&text), Some(Proof::of(&keys)));
        // As a file with a final newline, or with blank lines, it is the same proof.
        assert_eq!(Proof::parse(&format!("{text}\n\n")), Some(Proof::of(&keys)));
    }

    #[test]
    fn a_proof_that_does_not_hold_together_proves_nothing() {
        let keys = keys();
        let text = built_stamp(&keys);
        let output = keys.output().hex();
        // An older stamp of one line.
        assert_eq!(Proof::parse(&format!("built:{output}")), None);
        // A step line torn in half, a short key, an unknown step.
        assert_eq!(Proof::parse(&text[..text.len() - 5]), None);
        assert_eq!(Proof::parse(&text.replacen(&output[..8], "zz", 1)), None);
        assert_eq!(Proof::parse(&text.replace(" snapshot", " rebuild")), None);
        // The last step's key is not the stamp's.
        let other = format!("built:{}{}", "0".repeat(64), &text[6 + 64..]);
        assert_eq!(Proof::parse(&other), None);
        // Not built at all.
        assert_eq!(Proof::parse(&text.replacen("built:", "building:", 1)), None);
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
