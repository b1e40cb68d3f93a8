//! A node built before, whose inputs changed: which action each change leads to.

use super::{CT, Spec, World, feature, manifest, only};
use crate::graph::NodeId;
use crate::inventory::Stamp;
use crate::key::{Manifest, NodeKeys};
use crate::plan::{ActionKind, all_steps};
use crate::state::NodeRecord;
use crate::step::Step;

#[test]
fn a_node_built_with_its_desired_keys_stays_fresh() {
    let keys = Spec::container().keys();
    let plan = World::default()
        .want(CT, keys.clone())
        .built(CT, &keys)
        .plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Fresh);
    assert!(a.steps.is_empty() && a.reasons.is_empty(), "{a:?}");
    assert_eq!(a.key, keys.output().hex());
    assert_eq!(plan.pending().count(), 0);
}

#[test]
fn a_settings_change_updates_in_place_and_never_touches_content() {
    let was = Spec::container().keys();
    let now = Spec::container().with_setting("memory_mb", "4096").keys();
    // Settings are beside the chain: the content keys did not move.
    assert_eq!(was.output(), now.output());
    let plan = World::default().want(CT, now).built(CT, &was).plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Update);
    assert_eq!(a.steps, vec![Step::Configure]);
    assert_eq!(a.reasons, vec!["memory_mb 2048 → 4096".to_string()]);
    assert!(!a.needs_allow_replace);
}

#[test]
fn a_changed_define_step_replaces_and_needs_allow_replace_unless_a_template() {
    let was = Spec::container().keys();
    let now = Spec::container()
        .with(0, "template", "\"/t/os-2.tar.zst\"")
        .keys();
    let mut world = World::default();
    world.want(CT, now.clone()).built(CT, &was);

    let plan = world.plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Replace);
    assert_eq!(a.steps, all_steps(&now));
    assert!(
        a.reasons[0].starts_with("define: template "),
        "{:?}",
        a.reasons
    );
    assert!(a.needs_allow_replace);
    assert_eq!(plan.blocked_replacements(), vec![CT]);

    world.facts.templates.insert(CT);
    let plan = world.plan();
    assert_eq!(only(&plan).action, ActionKind::Replace);
    assert!(!only(&plan).needs_allow_replace);
    assert!(plan.blocked_replacements().is_empty());
}

#[test]
fn all_steps_puts_configure_right_after_define() {
    let keys = Spec::container().keys();
    assert_eq!(
        all_steps(&keys),
        vec![
            Step::Define,
            Step::Configure,
            feature("base"),
            Step::App,
            Step::Snapshot
        ]
    );
}

#[test]
fn a_changed_feature_resumes_from_it_and_says_it_rolls_back() {
    let was = Spec::container().keys();
    let now = Spec::container()
        .with(1, "script features/base.sh", "\"dddd\"")
        .keys();
    let plan = World::default().want(CT, now).built(CT, &was).plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Resume);
    assert_eq!(a.steps, vec![feature("base"), Step::App, Step::Snapshot]);
    assert_eq!(
        a.reasons,
        vec![
            "feature:base: features/base.sh changed".to_string(),
            "rolls back to the snapshot taken before `feature:base`".to_string(),
        ]
    );
    assert!(!a.needs_allow_replace);
}

#[test]
fn a_changed_feature_of_a_guest_without_snapshots_is_built_again() {
    let was = Spec::container().keys();
    let now = Spec::container()
        .with(1, "script features/base.sh", "\"dddd\"")
        .keys();
    let mut world = World::default();
    world
        .facts
        .no_snapshots
        .insert(CT, "bind mount `/srv` at `/srv`".into());
    let plan = world.want(CT, now.clone()).built(CT, &was).plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Replace);
    assert_eq!(a.steps, all_steps(&now));
    assert_eq!(
        a.reasons.last().map(String::as_str),
        Some(
            "no snapshot before `feature:base` to roll back to (bind mount `/srv` at `/srv`); built again"
        )
    );
    assert!(
        a.needs_allow_replace,
        "it holds data: replacing it needs the user's word"
    );
}

#[test]
fn a_feature_change_with_a_settings_change_configures_first() {
    let was = Spec::container().keys();
    let now = Spec::container()
        .with(1, "script features/base.sh", "\"dddd\"")
        .with_setting("memory_mb", "4096")
        .keys();
    let plan = World::default().want(CT, now).built(CT, &was).plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Resume);
    assert_eq!(a.steps[0], Step::Configure);
    assert!(a.reasons.iter().any(|r| r == "memory_mb 2048 → 4096"));
}

#[test]
fn only_the_app_changed_reruns_the_app() {
    let was = Spec::container().keys();
    let now = Spec::container()
        .with(2, "script app.sh", "\"eeee\"")
        .keys();
    let plan = World::default().want(CT, now).built(CT, &was).plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::RerunApp);
    // The snapshot chains the app's key, so it is taken again after.
    assert_eq!(a.steps, vec![Step::App, Step::Snapshot]);
    assert_eq!(a.reasons, vec!["app: app.sh changed".to_string()]);
}

#[test]
fn only_the_snapshot_changed_resnapshots() {
    let was = Spec::container().keys();
    let now = Spec::container().with(3, "name", "\"final-2\"").keys();
    let plan = World::default().want(CT, now).built(CT, &was).plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Resnapshot);
    assert_eq!(a.steps, vec![Step::Snapshot]);
}

#[test]
fn a_clone_repeats_its_source_reason() {
    let source = NodeId::Ct(900);
    let clone_spec = |source_keys: &NodeKeys| {
        Spec::container().with(
            0,
            "clone source ct:900",
            &format!("\"{}\"", source_keys.output()),
        )
    };
    let source_was = Spec::container().keys();
    let source_now = Spec::container()
        .with(1, "script features/base.sh", "\"dddd\"")
        .keys();
    let clone_was = clone_spec(&source_was).keys();
    let clone_now = clone_spec(&source_now).keys();
    let mut world = World::default();
    world
        .want(source, source_now)
        .built(source, &source_was)
        .want(CT, clone_now)
        .built(CT, &clone_was);
    world.facts.templates.insert(source);
    world.facts.clone_sources.insert(CT, source);
    let plan = world.plan();
    assert_eq!(
        plan.action(source).map(|a| a.action),
        Some(ActionKind::Resume)
    );
    let a = plan.action(CT).expect("the clone is planned");
    assert_eq!(a.action, ActionKind::Replace);
    assert_eq!(
        a.reasons,
        vec![
            "define: clone source ct:900 changed (feature:base: features/base.sh changed)"
                .to_string()
        ]
    );
    assert!(a.needs_allow_replace);
}

#[test]
fn a_step_removed_from_the_definition_replaces() {
    let was = Spec::container().keys();
    let mut spec = Spec::container();
    spec.chain.remove(2);
    spec.chain.pop();
    let plan = World::default()
        .want(CT, spec.keys())
        .built(CT, &was)
        .plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Replace);
    assert_eq!(
        a.reasons,
        vec!["steps removed from the definition: app, snapshot".to_string()]
    );
}

#[test]
fn a_host_step_is_created_then_updated_when_its_inputs_change() {
    let host = NodeId::Host("network");
    let spec = |bridge: &str| Spec {
        chain: vec![(Step::Run, manifest(&[("section network", bridge)]))],
        configure: Manifest::new(),
    };
    let mut keys = spec("\"vmbr0\"").keys();
    keys.configure = None;
    let plan = World::default().want(host, keys.clone()).plan();
    assert_eq!(only(&plan).action, ActionKind::Create);
    assert_eq!(only(&plan).steps, vec![Step::Run]);

    let mut now = spec("\"vmbr1\"").keys();
    now.configure = None;
    let plan = World::default()
        .want(host, now)
        .recorded(host, NodeRecord::built("host:network", &keys))
        .plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Update);
    assert_eq!(a.steps, vec![Step::Run]);
    assert_eq!(a.reasons, vec!["network vmbr0 → vmbr1".to_string()]);
    // Host steps are never guests: replacing one is not a thing.
    assert!(!a.needs_allow_replace);

    let plan = World::default()
        .want(host, keys.clone())
        .recorded(host, NodeRecord::built("host:network", &keys))
        .plan();
    assert_eq!(only(&plan).action, ActionKind::Fresh);
}

/// A chain of clones is decided wave by wave, each clone after its source: each
/// quotes its source's reason, which quotes its own source's. The plan lists the
/// nodes in the order given, whatever their waves, with a foreign guest and two
/// that are no clones among them.
#[test]
fn a_chain_of_clones_quotes_each_source_in_the_order_given() {
    let clone_of = |source: NodeId, keys: &NodeKeys| {
        Spec::container().with(
            0,
            &format!("clone source {source}"),
            &format!("\"{}\"", keys.output()),
        )
    };
    let (t1, t2, t3, solo, foreign) = (
        NodeId::Ct(900),
        NodeId::Ct(901),
        NodeId::Ct(902),
        NodeId::Ct(800),
        NodeId::Ct(700),
    );
    let t1_was = Spec::container().keys();
    let t1_now = Spec::container()
        .with(1, "script features/base.sh", "\"dddd\"")
        .keys();
    let t2_was = clone_of(t1, &t1_was).keys();
    let t2_now = clone_of(t1, &t1_now).keys();
    let t3_was = clone_of(t2, &t2_was).keys();
    let t3_now = clone_of(t2, &t2_now).keys();
    let mut world = World::default();
    world
        .want(t1, t1_now)
        .built(t1, &t1_was)
        .want(solo, Spec::container().keys())
        .want(t2, t2_now)
        .built(t2, &t2_was)
        .want(foreign, Spec::container().keys())
        .on_host(foreign, super::observed(Stamp::Foreign))
        .want(NodeId::Ct(801), Spec::container().keys())
        .want(t3, t3_now)
        .built(t3, &t3_was);
    for (clone, source) in [(t2, t1), (t3, t2)] {
        world.facts.templates.insert(source);
        world.facts.clone_sources.insert(clone, source);
    }
    let plan = world.plan();
    let planned: Vec<NodeId> = plan.actions.iter().map(|a| a.node).collect();
    assert_eq!(planned, [t1, solo, t2, NodeId::Ct(801), t3]);
    assert_eq!(plan.foreign, [foreign]);
    let why = |n: NodeId| plan.action(n).map(|a| a.reasons[0].clone());
    let t1_why = "feature:base: features/base.sh changed";
    assert_eq!(why(t1).as_deref(), Some(t1_why));
    let t2_why = format!("define: clone source ct:900 changed ({t1_why})");
    assert_eq!(why(t2), Some(t2_why.clone()));
    assert_eq!(
        why(t3),
        Some(format!("define: clone source ct:901 changed ({t2_why})"))
    );
}
