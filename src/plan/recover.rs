//! What the planner trusts about a guest that exists: its stamp, over the record.
//!
//! The state directory is a cache. It can be lost (a new machine, `rm -r cache`),
//! cut short (a full disk, a power loss) or garbled, and none of that may cost a
//! guest. The stamp on the guest is the source of truth for "built with key K":
//! it is written last, by the build that finished the guest, and it goes wherever
//! the guest goes. So the record is trusted only while the stamp agrees with it,
//! and where there is no record, or one the stamp contradicts, the record is
//! rebuilt from what the stamp proves ([`Basis::Recovered`]):
//!
//! * a stamp with its [`Proof`] (sim, lxc: every step's key) gives the record back
//!   exactly. A guest whose stamp equals its desired keys is then fresh; one built
//!   from older keys is planned as with a record (a changed feature rolls back to
//!   its `pre-` snapshot, a changed app reruns, changed settings update), and is
//!   replaced only when its `define` key provably changed. The inputs of a step
//!   whose key changed are unknown, so the reasons say so instead of diffing;
//! * a stamp of the output key alone (a Proxmox tag; a stamp from before proofs)
//!   proves the content when it matches: the record is rebuilt and the settings,
//!   which it cannot prove, are applied again (idempotent). When it does not
//!   match, no step can be proven and none is assumed destroyed: every step after
//!   `define` runs again on top of the guest. A guest is never replaced because
//!   the state was lost, unless what it was created from provably changed;
//! * a `building` stamp without any record is a guest whose build never finished,
//!   or whose final stamp failed after every step: nothing says which, so it is
//!   re-created only with `--allow-replace` (a template, whose clones hold the
//!   data, without). With a record of no steps the journal proves nothing ran in
//!   it after its creation, and it is created again as before.
//!
//! The record disagrees with the stamp when the stamp's key is not the record's
//! last key ("stamp on guest differs from the record"): the host was restored from
//! a backup, another cache built the guest, the journal lost its last lines, or the
//! final stamp failed. With a proof, the stamp wins. Without one, a record that is
//! still on its way (a later build's partial progress, which a Proxmox rollback
//! leaves stamped with the older key) is kept, and a record that claims the guest
//! complete is not believed: the steps it cannot prove run again. A `building`
//! stamp under a complete record means only the final stamp is missing: the stamp
//! is written again.

use super::action::ActionKind;
use crate::graph::NodeId;
use crate::inventory::{Observed, Proof, Stamp};
use crate::key::{NodeKeys, StepKey};
use crate::state::{NodeRecord, RecordedKey, RecordedManifest, StepRecord};
use crate::step::Step;

/// The reason that opens a plan made from the stamp while the record disagrees.
pub const STAMP_DIFFERS: &str = "stamp on guest differs from the record";

/// What a guest's plan is made from.
#[derive(Debug)]
pub(super) enum Basis<'a> {
    /// The record, which the stamp agrees with. `restamp`: every step is recorded
    /// but the guest still says `building`; its final stamp is written again.
    Record {
        record: &'a NodeRecord,
        restamp: bool,
    },
    /// A record rebuilt from the stamp; `why` opens the reasons.
    Recovered {
        record: NodeRecord,
        why: String,
        from: Source,
    },
    /// What the stamp and the record leave is one action.
    Decided(ActionKind, Vec<String>),
}

/// What a recovered record was rebuilt from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The stamp's proof: every step's key.
    Proof,
    /// The stamp's output key, equal to the desired one: the content steps, not the settings.
    OutputKey,
    /// Nothing provable: `define` is taken as it is defined, so the guest is kept.
    Assumed,
}

impl Source {
    /// Whether the record says only what the stamp proves, so it may be kept.
    pub fn proven(self) -> bool {
        self != Source::Assumed
    }
}

/// What to plan `node` from: `record` (if any) and what the host reports of it.
/// `inherited`: its stamp is its clone source's; `template`: replacing it needs
/// no consent.
pub(super) fn basis<'a>(
    node: NodeId,
    desired: &NodeKeys,
    record: Option<&'a NodeRecord>,
    observed: &Observed,
    inherited: bool,
    template: bool,
) -> Basis<'a> {
    let with_steps = record.filter(|r| !r.steps.is_empty());
    match (&observed.stamp, with_steps) {
        (_, None) if inherited => Basis::Decided(
            ActionKind::Create,
            vec!["still carries its clone source's stamp: left unfinished by an interrupted build; created again".into()],
        ),
        (Stamp::Building | Stamp::Foreign, None) if record.is_some() || template => {
            Basis::Decided(
                ActionKind::Create,
                vec!["left unfinished by an interrupted build; created again".into()],
            )
        }
        (Stamp::Building | Stamp::Foreign, None) => Basis::Decided(
            ActionKind::Replace,
            vec!["carries a `building` stamp and the state directory has no record of it: its build never finished, or its final stamp failed; re-creating it destroys its root disk".into()],
        ),
        (Stamp::Building | Stamp::Foreign, Some(record)) => Basis::Record {
            record,
            restamp: complete(record, desired),
        },
        (Stamp::Built(k), None) => from_stamp(
            node,
            desired,
            k,
            observed.proof.as_ref(),
            "no record in the state directory",
        ),
        (Stamp::Built(k), Some(record)) if agrees(k, record) => Basis::Record {
            record,
            restamp: false,
        },
        (Stamp::Built(k), Some(record))
            if observed.proof.is_some() || complete(record, desired) =>
        {
            from_stamp(node, desired, k, observed.proof.as_ref(), STAMP_DIFFERS)
        }
        (Stamp::Built(_), Some(record)) => Basis::Record {
            record,
            restamp: false,
        },
    }
}

/// Whether a stamped key names the record's last step. Backends may keep only a
/// prefix of the key; 16 hex digits are enough to trust.
fn agrees(stamped: &str, record: &NodeRecord) -> bool {
    stamped.len() >= 16 && record.last_key().is_some_and(|k| k.starts_with(stamped))
}

/// Whether the record has every desired content step, with the desired keys.
fn complete(record: &NodeRecord, desired: &NodeKeys) -> bool {
    record.steps.len() == desired.chain.len()
        && record
            .steps
            .iter()
            .zip(&desired.chain)
            .all(|(done, want)| done.step == want.step && done.key.is(&want.key))
}

/// The record a guest stamped `built:<stamped>` proves, opened by `why`.
fn from_stamp<'a>(
    node: NodeId,
    desired: &NodeKeys,
    stamped: &str,
    proof: Option<&Proof>,
    why: &str,
) -> Basis<'a> {
    let short: String = stamped.chars().take(12).collect();
    let label = node.to_string();
    if let Some(proof) = proof {
        return Basis::Recovered {
            record: from_proof(&label, proof, desired),
            why: format!("{why}: recovered from the guest's stamp"),
            from: Source::Proof,
        };
    }
    if stamped.len() >= 16 && desired.output().hex().starts_with(stamped) {
        let mut record = recovered(&label, &desired.chain);
        record.configure = None;
        return Basis::Recovered {
            record,
            why: format!(
                "{why}: recovered from the guest's stamp, which proves its content (key {short}) but not its settings; they are applied again"
            ),
            from: Source::OutputKey,
        };
    }
    if desired.chain.len() > 1 {
        return Basis::Recovered {
            record: recovered(&label, &desired.chain[..1]),
            why: format!(
                "{why}, and the guest's stamp (key {short}) is not the desired key and names no steps: every step after `define` runs again on top of the guest, which is kept (to create it anew, build with --force {node} --allow-replace)"
            ),
            from: Source::Assumed,
        };
    }
    Basis::Decided(
        ActionKind::Replace,
        vec![format!(
            "{why}, and the guest's stamp (key {short}) is not the key of its only step, `define`"
        )],
    )
}

/// A recovered record of `chain`'s steps as desired: their keys are proven equal,
/// so their inputs are the desired ones.
fn recovered(label: &str, chain: &[StepKey]) -> NodeRecord {
    let mut record = NodeRecord::new(label);
    record.recovered = true;
    record.steps = chain
        .iter()
        .map(|s| step(s.step.clone(), s.key.into(), Some(s)))
        .collect();
    record
}

/// The record a proof gives back: every step with its stamped key, and with the
/// desired inputs where the key is the desired one (equal keys, equal inputs).
fn from_proof(label: &str, proof: &Proof, desired: &NodeKeys) -> NodeRecord {
    let mut record = NodeRecord::new(label);
    record.recovered = true;
    record.steps = proof
        .chain
        .iter()
        .enumerate()
        .map(|(i, (s, key))| {
            let want = desired
                .chain
                .get(i)
                .filter(|w| w.step == *s && w.key.is_hex(key));
            step(s.clone(), RecordedKey::new(key), want)
        })
        .collect();
    record.configure = proof.configure.as_ref().map(|key| {
        let want = desired.configure.as_ref().filter(|w| w.key.is_hex(key));
        step(Step::Configure, RecordedKey::new(key), want)
    });
    record
}

fn step(step: Step, key: RecordedKey, known: Option<&StepKey>) -> StepRecord {
    StepRecord {
        step,
        key,
        manifest: known.map_or_else(RecordedManifest::unknown, |k| {
            RecordedManifest::new(&k.manifest)
        }),
        // Not recorded when it ran: the stamp carries no times.
        finished_at: 0,
    }
}
