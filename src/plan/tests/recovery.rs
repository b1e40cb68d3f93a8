//! Issue 15: the state directory lost, damaged or contradicted by the guest's own
//! stamp. The stamp is the source of truth; a guest is never replaced because the
//! record is gone, only because what it was created from provably changed.

use super::{CT, Spec, World, feature, observed, only, proven_stamp};
use crate::graph::NodeId;
use crate::inventory::Stamp;
use crate::plan::{ActionKind, STAMP_DIFFERS, all_steps};
use crate::state::NodeRecord;
use crate::step::Step;

/// No record, a stamp with every step's key equal to the desired ones: fresh, and
/// the record comes back whole (inputs included), so the next build has it.
#[test]
fn a_lost_record_is_rebuilt_from_a_matching_stamp_and_the_guest_is_fresh() {
    let keys = Spec::container().keys();
    for record in [None, Some(NodeRecord::new("ct:950"))] {
        let mut world = World::default();
        world
            .want(CT, keys.clone())
            .on_host(CT, proven_stamp(&keys));
        if let Some(r) = record {
            // A record of no steps (an older phoenix wrote these) is no record.
            world.recorded(CT, r);
        }
        let plan = world.plan();
        let a = only(&plan);
        assert_eq!(a.action, ActionKind::Fresh, "{a:?}");
        assert!(a.steps.is_empty());
        assert_eq!(
            a.reasons,
            vec!["no record in the state directory: recovered from the guest's stamp".to_string()]
        );
        let r = &plan.recovered[0];
        assert!(r.proven && r.record.is_recovered());
        let built = NodeRecord::built("ct:950", &keys);
        assert_eq!(r.record.steps.len(), built.steps.len());
        for (got, want) in r.record.steps.iter().zip(&built.steps) {
            assert_eq!(
                (&got.step, &got.key, &got.manifest),
                (&want.step, &want.key, &want.manifest)
            );
        }
        assert_eq!(
            r.record.configure.as_ref().map(|c| &c.manifest),
            built.configure.as_ref().map(|c| &c.manifest)
        );
    }
}

/// A stamp built from older keys is planned as a record would be: each kind of
/// change gets its own action, and only a changed `define` replaces.
#[test]
fn a_lost_record_and_an_older_stamp_plan_what_changed_and_no_more() {
    let was = Spec::container();
    let cases = [
        (
            was.clone().with_setting("memory_mb", "4096"),
            ActionKind::Update,
            vec![Step::Configure],
            "settings changed since the guest was built",
        ),
        (
            was.clone().with(1, "script features/base.sh", "\"cccc\""),
            ActionKind::Resume,
            vec![feature("base"), Step::App, Step::Snapshot],
            "feature:base: changed since the guest was built",
        ),
        (
            was.clone().with(2, "script app.sh", "\"dddd\""),
            ActionKind::RerunApp,
            vec![Step::App, Step::Snapshot],
            "app: changed since the guest was built",
        ),
        (
            was.clone().with(0, "template", "\"/t/os-2.tar.zst\""),
            ActionKind::Replace,
            all_steps(
                &was.clone()
                    .with(0, "template", "\"/t/os-2.tar.zst\"")
                    .keys(),
            ),
            "define: changed since the guest was built",
        ),
    ];
    for (now, action, steps, reason) in cases {
        let plan = World::default()
            .want(CT, now.keys())
            .on_host(CT, proven_stamp(&was.keys()))
            .plan();
        let a = only(&plan);
        assert_eq!(a.action, action, "{a:?}");
        assert_eq!(a.steps, steps);
        assert!(
            a.reasons[0].contains("recovered from the guest's stamp"),
            "{:?}",
            a.reasons
        );
        assert!(a.reasons[1].starts_with(reason), "{:?}", a.reasons);
        assert_eq!(a.needs_allow_replace, action == ActionKind::Replace);
    }
}

/// A changed feature of a recovered guest rolls back to the snapshot before it,
/// as with a record: the recovered record says the feature ran.
#[test]
fn a_recovered_guest_whose_feature_changed_rolls_back() {
    let was = Spec::container().keys();
    let now = Spec::container()
        .with(1, "script features/base.sh", "\"cccc\"")
        .keys();
    let plan = World::default()
        .want(CT, now)
        .on_host(CT, proven_stamp(&was))
        .plan();
    let a = only(&plan);
    assert!(
        a.reasons
            .iter()
            .any(|r| r.contains("rolls back to the snapshot taken before `feature:base`")),
        "{:?}",
        a.reasons
    );
    let rec = &plan.recovered[0].record;
    assert_eq!(rec.steps.len(), 4, "the record says every step ran");
    // `define` is the desired one, so its inputs are known; `feature:base`'s are not.
    assert!(!rec.steps[0].manifest.is_unknown() && rec.steps[1].manifest.is_unknown());
}

/// Issue 15 item 9: the record says the guest is built with its desired keys, the
/// stamp says otherwise (a host restored from an older backup, another cache): the
/// guest is stale, and the stamp's proof says what it holds.
#[test]
fn a_stamp_that_differs_from_the_record_is_stale_and_wins() {
    let was = Spec::container()
        .with(2, "script app.sh", "\"0000\"")
        .keys();
    let now = Spec::container().keys();
    let plan = World::default()
        .want(CT, now.clone())
        .recorded(CT, NodeRecord::built("ct:950", &now))
        .on_host(CT, proven_stamp(&was))
        .plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::RerunApp, "{a:?}");
    assert_eq!(
        a.reasons[0],
        format!("{STAMP_DIFFERS}: recovered from the guest's stamp")
    );
    assert_eq!(plan.recovered[0].node, CT);

    // Without a proof, a record that claims the guest complete is not believed
    // either: what cannot be proven runs again on top.
    let plan = World::default()
        .want(CT, now.clone())
        .recorded(CT, NodeRecord::built("ct:950", &now))
        .on_host(
            CT,
            observed(Stamp::Built(was.output().hex()[..32].to_string())),
        )
        .plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Resume, "{a:?}");
    assert!(a.reasons[0].starts_with(STAMP_DIFFERS), "{:?}", a.reasons);
    assert!(!a.needs_allow_replace);
}

/// The journal lost its last lines: the record stops before steps the stamp says
/// ran. The guest is what its stamp says, so it is fresh, not resumed.
#[test]
fn a_record_behind_the_stamp_is_overruled() {
    let keys = Spec::container().keys();
    let mut behind = NodeRecord::built("ct:950", &keys);
    behind.steps.truncate(2);
    let plan = World::default()
        .want(CT, keys.clone())
        .recorded(CT, behind)
        .on_host(CT, proven_stamp(&keys))
        .plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Fresh, "{a:?}");
    assert!(a.reasons[0].starts_with(STAMP_DIFFERS));
}

/// Without a proof, a record still on its way (a later build's partial progress,
/// which a Proxmox rollback leaves stamped with the older key) is kept.
#[test]
fn without_a_proof_a_partial_record_is_kept() {
    let was = Spec::container().keys();
    let now = Spec::container()
        .with(2, "script app.sh", "\"dddd\"")
        .keys();
    let mut partial = NodeRecord::built("ct:950", &now);
    partial.steps.truncate(2);
    let plan = World::default()
        .want(CT, now)
        .recorded(CT, partial)
        .on_host(CT, observed(Stamp::Built(was.output().hex())))
        .plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Resume);
    assert_eq!(a.steps, vec![Step::App, Step::Snapshot]);
    assert!(plan.recovered.is_empty());
}

/// Every step is recorded, but the final stamp failed and the guest still says
/// `building` (issue 15 item 3): the guest is not fresh; its stamp is written
/// again, and nothing else runs.
#[test]
fn a_complete_record_under_a_building_stamp_is_stamped_again() {
    let keys = Spec::container().keys();
    let plan = World::default()
        .want(CT, keys.clone())
        .recorded(CT, NodeRecord::built("ct:950", &keys))
        .on_host(CT, observed(Stamp::Building))
        .plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Update, "{a:?}");
    assert!(a.steps.is_empty());
    assert!(a.reasons[0].starts_with(STAMP_DIFFERS), "{:?}", a.reasons);
    assert!(!a.needs_allow_replace);
}

/// A converted VM template recovered from its stamp is made again when its
/// content changed, as with a record; being a template, without consent.
#[test]
fn a_recovered_converted_vm_template_is_made_again() {
    let vm = NodeId::Vm(9000);
    let was = Spec::converted_vm().keys();
    let now = Spec::converted_vm()
        .with(1, "script features/tools.sh", "\"ffff\"")
        .keys();
    let mut world = World::default();
    world.want(vm, now).on_host(vm, proven_stamp(&was));
    world.facts.templates.insert(vm);
    let plan = world.plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Replace);
    assert!(!a.needs_allow_replace);
}

/// A stamp edited by hand into anything (here: not ASCII) is a stamp that proves
/// nothing; the plan says so and does not panic.
#[test]
fn a_stamp_of_any_text_proves_nothing_and_does_not_panic() {
    let keys = Spec::container().keys();
    let plan = World::default()
        .want(CT, keys)
        .on_host(CT, observed(Stamp::Built(format!("a{}", "é".repeat(20)))))
        .plan();
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Resume);
    assert!(a.reasons[0].contains("aééééééééééé"), "{:?}", a.reasons);
}
