//! The sim backend's `observe` and `adopt`: a guest phoenix built matches its
//! definition; a setting changed by hand is the one difference, with both
//! values; a guest another tool built is read all the same and adopted by its
//! stamp alone.

use std::path::Path;
use std::time::Duration;

use phoenix::backend::sim::{Sim, SimOptions, settings_of};
use phoenix::backend::{Backend, CloneFrom, GuestCtx, Log, Stamp};
use phoenix::defs::Definitions;
use phoenix::graph::NodeId;
use phoenix::live::{Observation, Setting};
use serde_json::json;

use super::{ct, site, tree};

fn sim(dir: &Path) -> Sim {
    Sim::new(dir, SimOptions::default()).unwrap()
}

fn observe(sim: &Sim, defs: &Definitions, id: u32) -> Observation {
    let guest = defs.guest(id).unwrap();
    let g = GuestCtx {
        node: NodeId::Ct(id),
        guest,
        defs,
        source: CloneFrom::of(defs, guest),
        timeout: Duration::from_secs(5),
    };
    sim.observe(&g, &mut Log::sink()).unwrap()
}

#[test]
fn built_guests_match_and_a_memory_change_by_hand_is_the_one_difference() {
    let t = tree();
    t.build(&["all"]).success();
    let (defs, _) = phoenix::defs::load(&t.defs);
    let host = sim(&t.sim);
    for id in [900, 901, 902, 910, 920] {
        let o = observe(&host, &defs, id);
        let differing: Vec<&Setting> = o.differing().collect();
        assert!(differing.is_empty(), "ct:{id}: {differing:?}");
        assert!(o.shape_mismatches().next().is_none(), "ct:{id}");
        let memory = o.settings.iter().find(|s| s.field == "memory_mb").unwrap();
        assert_eq!(memory.live.as_deref(), Some("512"), "ct:{id}");
    }
    assert_eq!(observe(&host, &defs, 901).snapshots, ["gpu", "pre-gpu"]);
    assert!(observe(&host, &defs, 920).running);

    host.edit_setting(NodeId::Ct(920), "memory_mb", Some("1024"))
        .unwrap();
    drop(host);
    // On disk: another command reads it.
    let host = sim(&t.sim);
    let o = observe(&host, &defs, 920);
    assert_eq!(
        o.differing().collect::<Vec<_>>(),
        [&Setting::new(
            "memory_mb",
            "memory_mb",
            Some("1024".into()),
            Some("512".into())
        )]
    );
    assert!(observe(&host, &defs, 910).differing().next().is_none());
    let ops = t.ops().len();
    drop(host);
    assert_eq!(
        t.ops().len(),
        ops,
        "reading and editing by hand run no operation"
    );
}

#[test]
fn a_guest_another_tool_built_is_read_and_adopted_by_its_stamp_alone() {
    let t = site(
        &json!({"950": ct("svc", 50, &json!({"template": "local:vztmpl/x.tar.zst", "swap_mb": 256}))}),
        &[],
    );
    let (defs, _) = phoenix::defs::load(&t.defs);
    let guest = defs.guest(950).unwrap();
    let host = sim(&t.sim);
    let mut config = settings_of(guest);
    assert_eq!(config["swap_mb"], "256");
    assert_eq!(
        config["net0"],
        "bridge=lxcbr0,gw=10.9.0.1,hwaddr=52:54:00:00:00:32,ip=10.9.0.50/24,name=eth0"
    );
    config.insert("cores".into(), "4".into());
    host.place_foreign(NodeId::Ct(950), config).unwrap();
    let inv = host.inventory().unwrap();
    assert_eq!(inv[&NodeId::Ct(950)].stamp, Stamp::Foreign);
    let o = observe(&host, &defs, 950);
    assert!(o.running);
    assert_eq!(
        o.differing()
            .map(|s| (s.name.as_str(), s.live_text(), s.want_text()))
            .collect::<Vec<_>>(),
        [("cores", "4", "1")]
    );

    let g = GuestCtx {
        node: NodeId::Ct(950),
        guest,
        defs: &defs,
        source: None,
        timeout: Duration::from_secs(5),
    };
    host.adopt(&g, "built:abc", &mut Log::sink()).unwrap();
    let inv = host.inventory().unwrap();
    assert_eq!(inv[&NodeId::Ct(950)].stamp, Stamp::parse("built:abc"));
    assert_eq!(
        observe(&host, &defs, 950).differing().count(),
        1,
        "adoption changes nothing but the stamp"
    );
    drop(host);
    let ops = t.ops();
    assert_eq!(
        ops.iter()
            .map(|o| (o.node.as_str(), o.op.as_str(), o.detail.as_str()))
            .collect::<Vec<_>>(),
        [("ct:950", "adopt", "built:abc")]
    );
}

/// A guest written into `guests.json` by hand, as the sim's docs show (no
/// configure count, settings as text), is read as placed; an old file's guest
/// without settings has every defined one missing.
#[test]
fn a_guest_written_into_guests_json_by_hand_is_read_as_written() {
    let t = site(
        &json!({"950": ct("svc", 50, &json!({"template": "local:vztmpl/x.tar.zst"})),
                "951": ct("old", 51, &json!({"template": "local:vztmpl/x.tar.zst"}))}),
        &[],
    );
    let (defs, _) = phoenix::defs::load(&t.defs);
    let mut config = settings_of(defs.guest(950).unwrap());
    config.insert("memory_mb".into(), "2048".into());
    std::fs::create_dir_all(&t.sim).unwrap();
    let guests = json!([
        {"node": "ct:950", "stamp": "", "running": false, "snapshots": {}, "layers": [],
         "config": config},
        {"node": "ct:951", "stamp": "", "running": true, "snapshots": {}, "layers": ["hand-made"],
         "settings": 0}
    ]);
    std::fs::write(t.sim.join("guests.json"), guests.to_string()).unwrap();
    let host = sim(&t.sim);
    let o = observe(&host, &defs, 950);
    assert_eq!(
        o.differing()
            .map(|s| (s.field.as_str(), s.live_text(), s.want_text()))
            .collect::<Vec<_>>(),
        [("memory_mb", "2048", "512")]
    );
    let old = observe(&host, &defs, 951);
    assert_eq!(
        old.differing()
            .map(|s| (s.name.as_str(), s.live.is_none()))
            .collect::<Vec<_>>(),
        [
            ("cores", true),
            ("memory_mb", true),
            ("net0", true),
            ("start_at_boot", true)
        ]
    );
    assert!(old.running && !old.template);
}
