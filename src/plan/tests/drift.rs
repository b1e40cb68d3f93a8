//! Drift as staleness: what a managed guest's live config adds to its plan.

use super::{CT, Spec, World, built_stamp, only};
use crate::live::{Observation, Setting};
use crate::plan::ActionKind;
use crate::plan::drift::{self, Drift, Expect, Fix};
use crate::state::NodeRecord;
use crate::step::Step;

fn live(settings: Vec<Setting>, running: bool, snapshots: &[&str]) -> Observation {
    Observation {
        settings,
        running,
        snapshots: snapshots.iter().map(|s| (*s).to_string()).collect(),
        ..Observation::default()
    }
}

fn memory(live: &str) -> Setting {
    Setting::new(
        "memory_mb",
        "memory",
        Some(live.into()),
        Some("2048".into()),
    )
}

const TEMPLATE: Expect = Expect {
    runs: false,
    template_snapshot: Some("final"),
};

#[test]
fn a_setting_changed_by_hand_makes_a_fresh_guest_an_update_that_restores_it() {
    let keys = Spec::container().keys();
    let mut w = World::default();
    w.want(CT, keys.clone()).built(CT, &keys);
    let record = &w.records[&CT.to_string()];
    let obs = live(vec![memory("8192")], true, &["final"]);
    let items = drift::find(&keys, Some(record), &w.inventory[&CT], &obs, TEMPLATE);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].fix, Fix::Configure);
    assert_eq!(
        (items[0].recorded.as_str(), items[0].live.as_str()),
        ("2048", "8192")
    );

    let mut plan = w.plan();
    assert_eq!(only(&plan).action, ActionKind::Fresh);
    drift::apply(&mut plan, &[Drift { node: CT, items }]);
    let a = only(&plan);
    assert_eq!(a.action, ActionKind::Update);
    assert_eq!(a.steps, [Step::Configure]);
    assert_eq!(
        a.reasons,
        ["memory_mb (memory) changed outside phoenix: 2048 → 8192; update restores 2048"]
    );
}

#[test]
fn matching_settings_are_no_drift_and_settings_the_definition_changed_are_not_drift() {
    let was = Spec::container().keys();
    let mut w = World::default();
    w.want(CT, was.clone()).built(CT, &was);
    let record = w.records[&CT.to_string()].clone();
    let same = live(
        vec![Setting::new(
            "memory_mb",
            "memory",
            Some("2048".into()),
            Some("2048".into()),
        )],
        false,
        &["final"],
    );
    assert!(drift::find(&was, Some(&record), &w.inventory[&CT], &same, TEMPLATE).is_empty());

    // The definition now says 4096 and the host has 2048: the planned update sets
    // it; that is not a change made outside phoenix.
    let now = Spec::container().with_setting("memory_mb", "4096").keys();
    let behind = live(vec![memory("4096")], false, &["final"]);
    assert!(drift::find(&now, Some(&record), &w.inventory[&CT], &behind, TEMPLATE).is_empty());
}

#[test]
fn a_stopped_guest_is_started_and_a_deleted_template_snapshot_is_taken_again() {
    let keys = Spec::container().keys();
    let mut w = World::default();
    w.want(CT, keys.clone()).built(CT, &keys);
    let record = w.records[&CT.to_string()].clone();
    let runs = Expect {
        runs: true,
        template_snapshot: None,
    };
    let stopped = live(Vec::new(), false, &[]);
    let items = drift::find(&keys, Some(&record), &w.inventory[&CT], &stopped, runs);
    assert_eq!(
        items.iter().map(|i| i.fix).collect::<Vec<_>>(),
        [Fix::Start]
    );
    let mut plan = w.plan();
    drift::apply(&mut plan, &[Drift { node: CT, items }]);
    assert!(only(&plan).start && only(&plan).action == ActionKind::Update);
    assert!(only(&plan).steps.is_empty(), "nothing but the start");

    // A snapshot template stays stopped; its snapshot gone is taken again.
    let gone = live(Vec::new(), false, &["pre-base"]);
    let items = drift::find(&keys, Some(&record), &w.inventory[&CT], &gone, TEMPLATE);
    assert_eq!(
        items.iter().map(|i| i.fix).collect::<Vec<_>>(),
        [Fix::Snapshot]
    );
    let mut plan = w.plan();
    drift::apply(&mut plan, &[Drift { node: CT, items }]);
    assert_eq!(only(&plan).action, ActionKind::Resnapshot);
    assert_eq!(only(&plan).steps, [Step::Snapshot]);
    assert!(!only(&plan).start);
}

#[test]
fn guests_phoenix_did_not_finish_or_is_rebuilding_take_no_drift() {
    let keys = Spec::container().keys();
    let obs = live(vec![memory("8192")], false, &[]);
    let mut w = World::default();
    w.want(CT, keys.clone()).built(CT, &keys);
    let building = super::observed(crate::inventory::Stamp::Building);
    let record = w.records[&CT.to_string()].clone();
    assert!(drift::find(&keys, Some(&record), &building, &obs, TEMPLATE).is_empty());
    assert!(drift::find(&keys, None, &built_stamp(&keys), &obs, TEMPLATE).is_empty());

    // A replace needs nothing added.
    let changed = Spec::container()
        .with(0, "template", "\"/t/other.tar.zst\"")
        .keys();
    let mut w = World::default();
    w.want(CT, changed).built(CT, &keys);
    let mut plan = w.plan();
    assert_eq!(only(&plan).action, ActionKind::Replace);
    let before = only(&plan).clone();
    let items = drift::find(
        &keys,
        Some(&NodeRecord::built("ct:950", &keys)),
        &built_stamp(&keys),
        &obs,
        TEMPLATE,
    );
    drift::apply(&mut plan, &[Drift { node: CT, items }]);
    assert_eq!(only(&plan).reasons, before.reasons);
}
