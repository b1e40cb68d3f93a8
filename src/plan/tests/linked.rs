//! Converted templates: a content change makes them again, and their linked
//! clones on the host are destroyed first, deepest first (`plan::linked`).

use super::*;
use crate::plan::ActionKind;

const T900: NodeId = NodeId::Ct(900);
const T901: NodeId = NodeId::Ct(901);
const C101: NodeId = NodeId::Ct(101);
const C950: NodeId = NodeId::Ct(950);

/// A clone's keys: its own define, with its source's output key in it, as `key`
/// puts it there.
fn clone_of(source: &NodeKeys, converted: bool) -> Spec {
    let mut spec = if converted {
        Spec::converted_ct()
    } else {
        Spec::container()
    };
    spec.chain[0].1.remove("template");
    spec.with(0, "source", &source.output().hex())
}

/// 900 (converted) ← 901 (converted) ← 950, and 900 ← 101, all built; 900's
/// feature is then `now_900`.
fn tree(now_900: &Spec) -> World {
    let was_900 = Spec::converted_ct().keys();
    let was_901 = clone_of(&was_900, true).keys();
    let was_950 = clone_of(&was_901, false).keys();
    let was_101 = clone_of(&was_900, false).keys();
    let k900 = now_900.keys();
    let k901 = clone_of(&k900, true).keys();
    let k950 = clone_of(&k901, false).keys();
    let k101 = clone_of(&k900, false).keys();
    let mut w = World::default();
    w.want(T900, k900)
        .built(T900, &was_900)
        .want(C101, k101)
        .built(C101, &was_101)
        .want(T901, k901)
        .built(T901, &was_901)
        .want(C950, k950)
        .built(C950, &was_950);
    for (clone, source) in [(C101, T900), (T901, T900), (C950, T901)] {
        w.facts.clone_sources.insert(clone, source);
    }
    w.facts.converted.extend([T900, T901]);
    w.facts.templates.extend([T900, T901]);
    w
}

#[test]
fn a_changed_converted_container_template_is_made_again_not_rolled_back() {
    let was = Spec::converted_ct().keys();
    let now = Spec::converted_ct()
        .with(1, "script features/base.sh", "\"dddd\"")
        .keys();
    let mut w = World::default();
    w.want(T900, now).built(T900, &was);
    w.facts.templates.insert(T900);
    w.facts.converted.insert(T900);
    let plan = w.plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Replace, "{a:#?}");
    assert!(
        !a.needs_allow_replace,
        "a template needs no --allow-replace"
    );
    assert!(
        a.reasons
            .iter()
            .any(|r| r.contains("converted container template cannot change in place")),
        "{:?}",
        a.reasons
    );
    assert!(
        !a.reasons.iter().any(|r| r.contains("rolls back")),
        "a converted template holds no snapshot to roll back to: {:?}",
        a.reasons
    );
    // Nothing links to it: nothing to destroy first.
    assert!(a.destroy_first.is_empty());
}

#[test]
fn linked_clones_on_the_host_are_destroyed_first_deepest_first() {
    let now = Spec::converted_ct().with(1, "script features/base.sh", "\"dddd\"");
    let plan = tree(&now).plan();
    let a = plan.action(T900).unwrap();
    assert_eq!(a.action, ActionKind::Replace);
    // 950 is 901's linked clone, so it goes before 901; 101 is 900's.
    assert_eq!(a.destroy_first, vec![C101, C950, T901], "{a:#?}");
    assert!(
        a.reasons
            .iter()
            .any(|r| r.contains("linked clones ct:101, ct:950, ct:901 are destroyed first")),
        "{:?}",
        a.reasons
    );
    // Every clone is made again after it (its key has the template's in it).
    for c in [C101, T901, C950] {
        assert_eq!(plan.action(c).unwrap().action, ActionKind::Replace, "{c}");
    }
    // 901 lists its own clone too: gone by then, whose destroy is a no-op.
    assert_eq!(plan.action(T901).unwrap().destroy_first, vec![C950]);
    assert!(plan.linked_outside.is_empty());
    // The clones that are not templates still need --allow-replace.
    assert_eq!(plan.blocked_replacements(), vec![C101, C950]);
}

/// `--force 900`: the template's keys did not change, so neither did its
/// clones'; they are replaced all the same, since they go with it.
#[test]
fn a_forced_template_takes_its_linked_clones_with_it() {
    let mut w = tree(&Spec::converted_ct());
    let mut plan = w.plan();
    assert!(plan.pending().next().is_none(), "{plan:#?}");
    let a = plan.actions.iter_mut().find(|a| a.node == T900).unwrap();
    a.action = ActionKind::Replace;
    crate::plan::order_teardown(&mut plan, &w.facts, &w.inventory, &w.keys);
    assert_eq!(
        plan.action(T900).unwrap().destroy_first,
        vec![C101, C950, T901]
    );
    let c = plan.action(C101).unwrap();
    assert_eq!(c.action, ActionKind::Replace);
    assert!(c.needs_allow_replace);
    assert!(
        c.reasons[0].contains("destroyed with ct:900"),
        "{:?}",
        c.reasons
    );
    assert!(!plan.action(T901).unwrap().needs_allow_replace);
    // Planned again from scratch, a clone that is not on the host is left out.
    w.inventory.remove(&C950);
    let mut plan = w.plan();
    plan.actions
        .iter_mut()
        .find(|a| a.node == T900)
        .unwrap()
        .action = ActionKind::Replace;
    crate::plan::order_teardown(&mut plan, &w.facts, &w.inventory, &w.keys);
    assert_eq!(plan.action(T900).unwrap().destroy_first, vec![C101, T901]);
}

#[test]
fn a_linked_clone_outside_the_targets_is_named() {
    let now = Spec::converted_ct().with(1, "script features/base.sh", "\"dddd\"");
    let mut w = tree(&now);
    // `phoenix build 901`: 900 and 901 are selected, 101 and 950 are not.
    w.order.retain(|n| *n == T900 || *n == T901);
    let plan = w.plan();
    assert_eq!(
        plan.action(T900).unwrap().destroy_first,
        vec![C101, C950, T901]
    );
    let mut outside = plan.linked_outside.clone();
    outside.sort();
    assert_eq!(outside, vec![(C101, T900), (C950, T900)]);
}

#[test]
fn a_template_not_on_the_host_or_not_converted_destroys_nothing_first() {
    let now = Spec::converted_ct().with(1, "script features/base.sh", "\"dddd\"");
    let mut w = tree(&now);
    w.inventory.remove(&T900);
    let plan = w.plan();
    assert_eq!(plan.action(T900).unwrap().action, ActionKind::Create);
    assert!(plan.action(T900).unwrap().destroy_first.is_empty());
    // A snapshot template's clones are full copies of its snapshot: they do
    // not hold it.
    let mut w = tree(&now);
    w.facts.converted.clear();
    let plan = w.plan();
    assert!(plan.actions.iter().all(|a| a.destroy_first.is_empty()));
    assert!(plan.linked_outside.is_empty());
}
