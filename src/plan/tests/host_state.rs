//! What the record and the host say: missing, foreign, interrupted and unrecorded
//! guests, and converted VM templates.

use super::{CT, Spec, World, built_stamp, feature, observed, only};
use crate::graph::NodeId;
use crate::inventory::Stamp;
use crate::plan::{ActionKind, all_steps};
use crate::state::NodeRecord;
use crate::step::Step;

#[test]
fn recorded_but_missing_on_the_host_is_created() {
    let keys = Spec::container().keys();
    let plan = World::default()
        .want(CT, keys.clone())
        .recorded(CT, NodeRecord::built("ct:950", &keys))
        .plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Create);
    assert_eq!(a.steps, all_steps(&keys));
    assert_eq!(
        a.reasons,
        vec!["missing (deleted outside phoenix): recorded as built, but ct:950 does not exist on the host".to_string()]
    );
    assert!(!a.needs_allow_replace);
}

#[test]
fn a_guest_phoenix_did_not_stamp_is_foreign_and_gets_no_action() {
    let keys = Spec::container().keys();
    let plan = World::default()
        .want(CT, keys.clone())
        .want(NodeId::Ct(951), keys.clone())
        .on_host(CT, observed(Stamp::Foreign))
        // Even a record does not make phoenix the owner of what the host says it is not.
        .recorded(CT, NodeRecord::built("ct:950", &keys))
        .plan();
    assert_eq!(plan.foreign, vec![CT]);
    assert!(plan.action(CT).is_none());
    assert_eq!(
        plan.action(NodeId::Ct(951)).map(|a| a.action),
        Some(ActionKind::Create)
    );
}

/// The journal has the record a build writes before it creates a guest, and no
/// step after it: nothing ran in the guest, so it is created again without asking.
#[test]
fn an_interrupted_build_with_a_record_of_no_steps_is_created_again() {
    let keys = Spec::container().keys();
    let plan = World::default()
        .want(CT, keys.clone())
        .on_host(CT, observed(Stamp::Building))
        .recorded(CT, NodeRecord::new("ct:950"))
        .plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Create);
    assert_eq!(a.steps, all_steps(&keys));
    assert!(!a.needs_allow_replace);
    assert!(
        a.reasons[0].contains("interrupted build"),
        "{:?}",
        a.reasons
    );
}

/// Issue 15: a `building` stamp and no record at all is a build that never
/// finished, or one whose final stamp failed after every step; a lost cache must
/// not destroy such a guest without consent. It used to be created again freely.
#[test]
fn a_building_stamp_without_a_record_is_replaced_only_with_consent_unless_a_template() {
    let keys = Spec::container().keys();
    let mut world = World::default();
    world
        .want(CT, keys.clone())
        .on_host(CT, observed(Stamp::Building));
    let plan = world.plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Replace);
    assert_eq!(a.steps, all_steps(&keys));
    assert!(a.needs_allow_replace);
    assert!(
        a.reasons[0].contains("`building` stamp and the state directory has no record"),
        "{:?}",
        a.reasons
    );
    world.facts.templates.insert(CT);
    let plan = world.plan();
    assert_eq!(only(&plan).action, ActionKind::Create);
    assert!(!only(&plan).needs_allow_replace);
}

#[test]
fn a_clone_that_still_carries_its_sources_stamp_is_created_again() {
    let keys = Spec::container().keys();
    let source = NodeId::Ct(900);
    let source_stamp = Stamp::Built("a".repeat(64));
    let mut world = World::default();
    world.facts.clone_sources.insert(CT, source);
    let plan = world
        .want(CT, keys.clone())
        .on_host(source, observed(source_stamp.clone()))
        .on_host(CT, observed(source_stamp))
        .plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Create);
    assert_eq!(a.steps, all_steps(&keys));
    assert!(!a.needs_allow_replace, "{:?}", a.reasons);
    assert!(
        a.reasons[0].contains("clone source's stamp"),
        "{:?}",
        a.reasons
    );
}

#[test]
fn a_building_stamp_with_recorded_steps_resumes_where_it_stopped() {
    let keys = Spec::container().keys();
    let mut partial = NodeRecord::built("ct:950", &keys);
    partial.steps.truncate(2);
    let plan = World::default()
        .want(CT, keys)
        .recorded(CT, partial)
        .on_host(CT, observed(Stamp::Building))
        .plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Resume);
    assert_eq!(a.steps, vec![Step::App, Step::Snapshot]);
    assert_eq!(
        a.reasons,
        vec!["the last build stopped before `app`".to_string()]
    );
}

#[test]
fn no_record_but_a_matching_stamp_reapplies_the_settings() {
    let keys = Spec::container().keys();
    let hex = keys.output().hex();
    // Backends may keep only a prefix of the key; 16 hex digits are enough to trust.
    for stamp in [hex.clone(), hex[..16].to_string()] {
        let plan = World::default()
            .want(CT, keys.clone())
            .on_host(CT, observed(Stamp::Built(stamp)))
            .plan();
        let a = only(&plan);
        assert_eq!(a.action, ActionKind::Update);
        assert_eq!(a.steps, vec![Step::Configure]);
        // The content steps are proven: their record is rebuilt and kept, so the
        // build after this one is a no-op.
        assert!(
            a.reasons[0].contains("proves its content"),
            "{:?}",
            a.reasons
        );
        let r = &plan.recovered[0];
        assert!(r.proven && r.record.is_recovered());
        let mut want = NodeRecord::built("ct:950", &keys);
        want.configure = None;
        assert_eq!(r.record.steps.len(), want.steps.len());
        assert!(
            r.record
                .steps
                .iter()
                .zip(&want.steps)
                .all(|(a, b)| a.key == b.key && a.manifest == b.manifest)
        );
    }
}

/// Issue 15: a stamp of the output key alone (a Proxmox tag) that is not the
/// desired key proves no step; the guest is kept and every step after `define`
/// runs again on top of it, with its settings. It used to be replaced.
#[test]
fn no_record_and_a_stamp_from_another_build_reruns_the_steps_on_top() {
    let keys = Spec::container().keys();
    let other = Spec::container()
        .with(1, "script features/base.sh", "\"x\"")
        .keys();
    // A too-short stamp proves nothing either.
    let short = keys.output().hex()[..8].to_string();
    for stamp in [built_stamp(&other), observed(Stamp::Built(short))] {
        let plan = World::default()
            .want(CT, keys.clone())
            .on_host(CT, stamp)
            .plan();
        let a = only(&plan);
        assert_eq!(a.action, ActionKind::Resume);
        assert_eq!(
            a.steps,
            vec![Step::Configure, feature("base"), Step::App, Step::Snapshot]
        );
        assert!(!a.needs_allow_replace);
        assert_eq!(a.reasons.len(), 1, "{:?}", a.reasons);
        assert!(
            a.reasons[0].contains("runs again on top of the guest"),
            "{:?}",
            a.reasons
        );
        // What the guest was created from is taken as defined, not proven: the
        // build runs from that record but does not keep it.
        assert_eq!(plan.recovered.len(), 1);
        assert!(!plan.recovered[0].proven);
        assert_eq!(plan.recovered[0].record.steps.len(), 1);
    }
}

/// A guest whose only step is `define` has nothing to run on top: a stamp that is
/// not its key is a different guest, replaced only with consent.
#[test]
fn no_record_and_another_key_on_a_guest_of_one_step_is_replaced_with_consent() {
    let mut spec = Spec::container();
    spec.chain.truncate(1);
    let keys = spec.keys();
    let plan = World::default()
        .want(CT, keys)
        .on_host(CT, observed(Stamp::Built("ab".repeat(32))))
        .plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Replace);
    assert!(a.needs_allow_replace);
}

#[test]
fn a_converted_vm_template_whose_content_changed_is_replaced() {
    let vm = NodeId::Vm(9000);
    let was = Spec::converted_vm().keys();
    let now = Spec::converted_vm()
        .with(1, "script features/tools.sh", "\"ffff\"")
        .keys();
    let mut world = World::default();
    world.want(vm, now.clone()).built(vm, &was);
    world.facts.templates.insert(vm);
    let plan = world.plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Replace);
    assert_eq!(a.steps, all_steps(&now));
    assert!(
        a.reasons
            .iter()
            .any(|r| r.contains("converted VM template cannot change in place")),
        "{:?}",
        a.reasons
    );
    // It is a template, so replacing it destroys nothing its clones do not have.
    assert!(!a.needs_allow_replace);

    // A settings change still goes in place.
    let now = Spec::converted_vm().with_setting("cores", "4").keys();
    let mut world = World::default();
    world.want(vm, now).built(vm, &was);
    assert_eq!(only(&world.plan()).action, ActionKind::Update);
}

#[test]
fn a_vm_whose_last_step_is_not_template_resumes_normally() {
    let vm = NodeId::Vm(9001);
    let mut spec = Spec::converted_vm();
    spec.chain.pop();
    let was = spec.keys();
    let now = spec.with(1, "script features/tools.sh", "\"ffff\"").keys();
    let plan = World::default().want(vm, now).built(vm, &was).plan();
    assert_eq!(only(&plan).action, ActionKind::Resume);
}

#[test]
fn nodes_without_desired_keys_are_not_planned() {
    let mut world = World::default();
    world.order.push(NodeId::Ct(999));
    let plan = world.plan();
    assert!(plan.actions.is_empty() && plan.foreign.is_empty());
}
