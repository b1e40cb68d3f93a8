//! Linked clones before their template.
//!
//! A clone of a converted template (`is_template`) is a linked clone where the
//! storage allows it: its disks are thin copies on top of the template's base
//! volumes, and Proxmox refuses to destroy a template while any linked clone
//! uses them (pve-storage `PVE::Storage::Plugin::free_image` on a base volume:
//! "base volume '...' is still in use by linked cloned"; ZFS, LVM-thin and RBD
//! check the same way). Plain LXC is alike: `lxc-destroy` refuses a container
//! whose overlay snapshot clones still exist.
//!
//! So when a converted template that exists is made again, its clones on the
//! host (and theirs, where a clone is a converted template too) are destroyed
//! first, deepest first, as part of the template's `define` step, and rebuilt
//! after it. A clone whose key did not change (the template is rebuilt with
//! `--force`) is replaced all the same; a clone outside the build's targets
//! cannot be, and the build is refused naming it ([`Plan::linked_outside`]).
//!
//! Whether a clone really is linked (rather than a full copy, on a directory
//! storage or another storage than its template's) is the backend's choice at
//! clone time; the plan treats every clone of a converted template as linked,
//! which costs at most a rebuild of a clone that is stale anyway.

use std::collections::{HashMap, HashSet};

use super::action::{Action, ActionKind, Plan};
use super::make::{GuestFacts, all_steps};
use crate::graph::NodeId;
use crate::inventory::Inventory;
use crate::key::NodeKeys;

/// The reason a template's action gives for destroying its clones first.
pub const LINKED_FIRST: &str =
    "Proxmox cannot destroy a template while linked clones use its disks";

/// Give each replaced converted template that exists its linked clones to destroy
/// first ([`super::Action::destroy_first`]), and make each of those a replace.
pub fn order_teardown(
    plan: &mut Plan,
    facts: &GuestFacts,
    inventory: &Inventory,
    keys: &crate::graph::NodeMap<NodeKeys>,
) {
    plan.linked_outside.clear();
    let torn_down = |a: &Action| {
        a.action == ActionKind::Replace
            && facts.converted.contains(&a.node)
            && inventory.contains_key(&a.node)
    };
    // Most plans replace no converted template: nothing below is made for them.
    if !plan.actions.iter().any(torn_down) {
        return;
    }
    let mut clones_of: HashMap<NodeId, Vec<NodeId>> = HashMap::new();
    for (&clone, &source) in &facts.clone_sources {
        clones_of.entry(source).or_default().push(clone);
    }
    for list in clones_of.values_mut() {
        list.sort();
    }
    // Each node's place in the plan, and the clones already found outside it.
    let at: HashMap<NodeId, usize> = plan
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.node, i))
        .collect();
    let mut outside: HashSet<NodeId> = HashSet::new();
    for i in 0..plan.actions.len() {
        let a = &plan.actions[i];
        if !torn_down(a) {
            continue;
        }
        let node = a.node;
        let mut linked = Vec::new();
        linked_on_host(
            node,
            &clones_of,
            facts,
            inventory,
            &mut linked,
            &mut HashSet::new(),
        );
        if linked.is_empty() {
            continue;
        }
        let names: Vec<String> = linked.iter().map(ToString::to_string).collect();
        let a = &mut plan.actions[i];
        a.destroy_first.clone_from(&linked);
        a.reasons.push(format!(
            "its linked clones {} are destroyed first ({LINKED_FIRST}), deepest first",
            names.join(", ")
        ));
        for clone in linked {
            match at.get(&clone).map(|&j| &mut plan.actions[j]) {
                Some(c) if c.action == ActionKind::Replace => {}
                Some(c) => {
                    c.action = ActionKind::Replace;
                    if let Some(k) = keys.get(&clone) {
                        c.steps = all_steps(k);
                    }
                    c.reasons.push(format!(
                        "destroyed with {node}, the template it is a linked clone of, which is made again"
                    ));
                    c.needs_allow_replace = !facts.templates.contains(&clone);
                }
                None if !outside.insert(clone) => {}
                None => plan.linked_outside.push((clone, node)),
            }
        }
    }
}

/// The clones of `template` that exist on the host, and through those that are
/// converted templates themselves, theirs: deepest first. `seen` holds what
/// `out` does.
fn linked_on_host(
    template: NodeId,
    clones_of: &HashMap<NodeId, Vec<NodeId>>,
    facts: &GuestFacts,
    inventory: &Inventory,
    out: &mut Vec<NodeId>,
    seen: &mut HashSet<NodeId>,
) {
    for &clone in clones_of.get(&template).into_iter().flatten() {
        if !inventory.contains_key(&clone) || seen.contains(&clone) {
            continue;
        }
        if facts.converted.contains(&clone) {
            linked_on_host(clone, clones_of, facts, inventory, out, seen);
        }
        seen.insert(clone);
        out.push(clone);
    }
}
