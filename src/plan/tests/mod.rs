//! The planner's rules, from keys, records and inventories built in memory.
//!
//! A guest here is a chain of hand-made manifests (`define`, `feature:base`, `app`,
//! `snapshot`, and `configure` beside them); a test builds the keys it had when it
//! was recorded, changes one input, and checks the action the planner picks.

use super::{Action, GuestFacts, Plan, make};
use crate::graph::NodeId;
use crate::inventory::{Inventory, Observed, Stamp};
use crate::key::{Manifest, NodeKeys, StepKey, step_key};
use crate::state::NodeRecord;
use crate::step::Step;

mod changes;
mod drift;
mod host_state;
mod linked;
mod recovery;

pub(super) const CT: NodeId = NodeId::Ct(950);

pub(super) fn manifest(pairs: &[(&str, &str)]) -> Manifest {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// A guest's inputs, step by step; [`Spec::keys`] hashes them the way `key` does.
#[derive(Clone)]
pub(super) struct Spec {
    pub(super) chain: Vec<(Step, Manifest)>,
    pub(super) configure: Manifest,
}

impl Spec {
    /// A container with a feature, an application and a template snapshot.
    pub(super) fn container() -> Spec {
        Spec {
            chain: vec![
                (
                    Step::Define,
                    manifest(&[("kind", "\"ct\""), ("template", "\"/t/os.tar.zst\"")]),
                ),
                (
                    Step::Feature("base".into()),
                    manifest(&[("script features/base.sh", "\"aaaa\"")]),
                ),
                (Step::App, manifest(&[("script app.sh", "\"bbbb\"")])),
                (Step::Snapshot, manifest(&[("name", "\"final\"")])),
            ],
            configure: manifest(&[("memory_mb", "2048")]),
        }
    }

    /// A VM converted to a template with `qm template` as its last step.
    pub(super) fn converted_vm() -> Spec {
        Spec::converted(
            ("\"vm\"", "template_image", "\"a.img\""),
            "tools",
            ("cores", "2"),
        )
    }

    /// A container converted with `pct template` as its last step (`is_template`).
    pub(super) fn converted_ct() -> Spec {
        Spec::converted(
            ("\"ct\"", "template", "\"/t/os.tar.zst\""),
            "base",
            ("memory_mb", "2048"),
        )
    }

    /// `define` from (kind, field, value), one feature, then `template`.
    fn converted(made: (&str, &str, &str), feature: &str, setting: (&str, &str)) -> Spec {
        let (kind, field, value) = made;
        Spec {
            chain: vec![
                (Step::Define, manifest(&[("kind", kind), (field, value)])),
                (
                    Step::Feature(feature.into()),
                    manifest(&[(&format!("script features/{feature}.sh"), "\"cccc\"")]),
                ),
                (Step::Template, manifest(&[("is_template", "true")])),
            ],
            configure: manifest(&[setting]),
        }
    }

    /// Set input `name` of the step at `step` to `value`.
    pub(super) fn with(mut self, step: usize, name: &str, value: &str) -> Spec {
        self.chain[step].1.insert(name, value);
        self
    }

    pub(super) fn with_setting(mut self, name: &str, value: &str) -> Spec {
        self.configure.insert(name, value);
        self
    }

    pub(super) fn keys(&self) -> NodeKeys {
        let mut chain: Vec<StepKey> = Vec::new();
        for (step, manifest) in &self.chain {
            let key = step_key(step, manifest, chain.last().map(|s| s.key));
            chain.push(StepKey {
                step: step.clone(),
                key,
                manifest: manifest.clone(),
            });
        }
        let configure = StepKey {
            step: Step::Configure,
            key: step_key(&Step::Configure, &self.configure, None),
            manifest: self.configure.clone(),
        };
        NodeKeys {
            chain,
            configure: Some(configure),
        }
    }
}

pub(super) fn built_stamp(keys: &NodeKeys) -> Observed {
    observed(Stamp::Built(keys.output().hex()))
}

/// On the host, stamped as built with `keys`, with the proof of every step's key
/// (what the sim and lxc backends keep).
pub(super) fn proven_stamp(keys: &NodeKeys) -> Observed {
    Observed {
        proof: Some(crate::inventory::Proof::of(keys)),
        ..built_stamp(keys)
    }
}

pub(super) fn observed(stamp: Stamp) -> Observed {
    Observed {
        stamp,
        proof: None,
        snapshots: Vec::new(),
        running: true,
        node: None,
    }
}

/// Nodes with their desired keys, records and what the host has.
#[derive(Default)]
pub(super) struct World {
    pub(super) order: Vec<NodeId>,
    pub(super) keys: crate::graph::NodeMap<NodeKeys>,
    pub(super) records: crate::state::RecordMap,
    pub(super) inventory: Inventory,
    pub(super) facts: GuestFacts,
}

impl World {
    pub(super) fn want(&mut self, node: NodeId, keys: NodeKeys) -> &mut World {
        self.order.push(node);
        self.keys.insert(node, keys);
        self
    }

    pub(super) fn recorded(&mut self, node: NodeId, record: NodeRecord) -> &mut World {
        self.records.insert(node.to_string(), record);
        self
    }

    pub(super) fn on_host(&mut self, node: NodeId, o: Observed) -> &mut World {
        self.inventory.insert(node, o);
        self
    }

    /// `node` was built with `was` and is on the host, stamped with its output key.
    pub(super) fn built(&mut self, node: NodeId, was: &NodeKeys) -> &mut World {
        self.recorded(node, NodeRecord::built(&node.to_string(), was))
            .on_host(node, built_stamp(was))
    }

    pub(super) fn plan(&self) -> Plan {
        make(
            &self.order,
            &self.keys,
            &self.records,
            &self.inventory,
            &self.facts,
        )
    }
}

/// The one action of a one-node world.
pub(super) fn only(plan: &Plan) -> &Action {
    assert_eq!(plan.actions.len(), 1, "{plan:#?}");
    &plan.actions[0]
}

pub(super) fn feature(name: &str) -> Step {
    Step::Feature(name.into())
}
