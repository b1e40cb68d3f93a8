//! The newest era, `phoenix-2025-11-templates`, end to end on the stand-in host:
//! 900, 901 and 911 are converted templates (`is_template`), every other
//! container a linked clone of one of them; 101 has a second interface.
//!
//! 910 and 912 name a template snapshot (`final-form`) but have a bind mount,
//! which Proxmox cannot snapshot (pve-guest-common
//! `PVE::AbstractConfig::__snapshot_prepare`: "snapshot feature is not
//! available"); nothing clones them, so `validate` warns and they are built as
//! plain containers, without it. Nothing is refused.

use serde_json::Value;

use super::Host;
use super::fixtures::fixture_host;
use crate::helpers::Output;

/// Each linked clone and the converted template it is cloned from.
const LINKED: [(u32, u32); 11] = [
    (101, 900),
    (102, 900),
    (103, 900),
    (901, 900),
    (910, 901),
    (911, 901),
    (914, 901),
    (917, 901),
    (801, 911),
    (802, 911),
    (912, 911),
];

/// Every node of `out` has `want` (or, with `want_guests` given, every
/// container that, every other node `want`).
#[track_caller]
fn every_node(out: &Output, want: &str, want_guests: Option<&str>) {
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for (node, outcome) in out.summary()["nodes"].as_object().unwrap() {
        let want = match want_guests {
            Some(guests) if node.starts_with("ct:") => guests,
            _ => want,
        };
        assert_eq!(outcome, want, "{node}");
    }
}

/// The position of the first command `want` in `cmds`.
#[track_caller]
fn position(cmds: &[Vec<String>], want: &[&str]) -> usize {
    cmds.iter()
        .position(|c| c.iter().map(String::as_str).eq(want.iter().copied()))
        .unwrap_or_else(|| panic!("{want:?} was not run: {cmds:#?}"))
}

/// Templates converted, linked clones made from them, 101's interfaces.
#[track_caller]
fn host_as_defined(h: &Host) {
    let state = h.pve.stand_in_state();
    let guest = |id: u32| &state["guests"][id.to_string()];
    for template in [900, 901, 911] {
        assert_eq!(guest(template)["config"]["template"], "1", "{template}");
        assert_eq!(guest(template)["status"], "stopped", "{template}");
        assert!(
            guest(template)["snapshots"]
                .as_array()
                .is_some_and(Vec::is_empty)
        );
    }
    for (clone, template) in LINKED {
        assert_eq!(
            guest(clone)["linked_from"],
            Value::from(template.to_string()),
            "{clone} is a linked clone of {template}"
        );
    }
    let config = &guest(101)["config"];
    assert_eq!(
        config["net0"],
        "name=eth0,bridge=vmbr0.20,ip=dhcp,hwaddr=02:00:00:00:01:01"
    );
    assert_eq!(
        config["net1"],
        "name=eth1,bridge=vmbr100,ip=172.16.100.10/24,gw=172.16.100.1,hwaddr=02:00:00:00:01:02"
    );
}

/// `build all` builds everything, a build again runs nothing and costs one
/// inventory call; a changed feature of
/// 900 makes 900 again, its linked clones (and theirs) destroyed first, deepest
/// first (the stand-in refuses to destroy a template whose linked clones exist,
/// as Proxmox does), which needs `--allow-replace` for the clones that are not
/// templates.
#[test]
fn fixture_2025_11_templates_builds_and_a_feature_change_of_900_rebuilds_its_linked_clones() {
    let Some(h) = fixture_host("phoenix-2025-11-templates") else {
        return;
    };
    let out = h.build(&["all"]);
    every_node(&out, "built", None);
    h.pve.assert_no_violations();
    host_as_defined(&h);
    // 910 and 912 (see the module doc) hold no template snapshot.
    let state = h.pve.stand_in_state();
    for plain in ["910", "912"] {
        let snaps = state["guests"][plain]["snapshots"]
            .as_array()
            .unwrap()
            .clone();
        assert!(
            !snaps.iter().any(|s| s == "final-form"),
            "{plain}: {snaps:?}"
        );
    }
    let before = h.pve.commands().len();
    let out = h.build(&["all"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.summary()["steps_run"], 0, "{}", out.stdout);
    h.pve.assert_only_inventory_since(before);

    // 900's one feature changes (101, 102 and 103 run it too).
    let script = h.defs.join("features/lxc/base_setup.sh");
    let mut body = std::fs::read_to_string(&script).unwrap();
    body.push_str("echo base 2\n");
    std::fs::write(&script, body).unwrap();
    let before = h.pve.commands().len();
    let out = h.build(&["all"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains("--allow-replace"), "{}", out.stderr);
    h.pve.assert_only_inventory_since(before);

    let out = h.build(&["all", "--allow-replace"]);
    every_node(&out, "fresh", Some("built"));
    h.pve.assert_no_violations();
    let cmds = h.pve.commands()[before..].to_vec();
    let destroyed = |id: u32| position(&cmds, &["pct", "destroy", &id.to_string(), "--purge", "1"]);
    // Deepest first: every linked clone before the template it is linked to
    // (900's success, built again, shows the stand-in took every destroy).
    for (clone, template) in LINKED {
        assert!(
            destroyed(clone) < destroyed(template),
            "{clone} is destroyed before {template}: {cmds:#?}"
        );
    }
    let converted = position(&cmds, &["pct", "template", "900"]);
    assert!(destroyed(900) < converted);
    for (clone, template) in LINKED {
        let made = cmds
            .iter()
            .rposition(|c| {
                c.len() == 6
                    && c[..4] == ["pct", "clone", &template.to_string(), &clone.to_string()]
                    && c[4] == "--hostname"
            })
            .unwrap_or_else(|| panic!("{clone} is cloned linked from {template}: {cmds:#?}"));
        assert!(
            position(&cmds, &["pct", "template", &template.to_string()]) < made,
            "{clone} is cloned from the new {template}"
        );
    }
    host_as_defined(&h);
    let before = h.pve.commands().len();
    let out = h.build(&["all"]);
    assert_eq!(out.summary()["steps_run"], 0, "{}", out.stdout);
    h.pve.assert_only_inventory_since(before);
}

/// A small chain of our own: converted template 900 (with a feature) and its
/// linked clone 101, on the stand-in's LVM-thin `local-lvm`.
fn small_chain() -> Option<Host> {
    let site = crate::helpers::Site::empty();
    let lxc = serde_json::json!({ "lxc_configs": {
        "900": { "name": "base", "template": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
                 "storage_pool": "local-lvm", "unprivileged": true, "memory_mb": 1024,
                 "is_template": true, "features": ["base_setup"],
                 "network_config": { "name": "eth0", "bridge": "vmbr0", "ip": "10.0.0.200/24",
                                     "gw": "10.0.0.1" } },
        "101": { "name": "web", "clone_from_ctid": "900", "storage_pool": "local-lvm",
                 "unprivileged": true, "memory_mb": 2048,
                 "network_config": { "name": "eth0", "bridge": "vmbr0", "ip": "dhcp",
                                     "hwaddr": "02:00:00:00:01:01" } }
    } });
    std::fs::write(site.defs.join("phoenix_hypervisor_config.json"), "{}").unwrap();
    std::fs::write(site.defs.join("phoenix_lxc_configs.json"), lxc.to_string()).unwrap();
    let features = site.defs.join("features/lxc");
    std::fs::create_dir_all(&features).unwrap();
    std::fs::create_dir_all(site.defs.join("features/host")).unwrap();
    std::fs::write(features.join("base_setup.sh"), "#!/bin/sh\necho base\n").unwrap();
    super::host_on(site)
}

/// A settings change of a converted template is made in place, through nothing
/// Proxmox refuses of a template (no start, no snapshot; `pct set`, its stamp);
/// a mount point added to it is refused by phoenix, naming the way out, since
/// Proxmox would take it and then make no linked clone of the template.
#[test]
fn a_converted_template_takes_settings_in_place_but_no_new_mount_point() {
    let Some(h) = small_chain() else { return };
    let out = h.build(&["all"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    h.pve.assert_no_violations();
    let cmds = h.pve.commands();
    position(&cmds, &["pct", "template", "900"]);
    position(&cmds, &["pct", "clone", "900", "101", "--hostname", "web"]);

    crate::helpers::set_field(&h.defs, "900", "memory_mb", serde_json::json!(1536));
    let before = h.pve.commands().len();
    let out = h.build(&["all"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.summary()["nodes"]["ct:900"],
        "updated",
        "{}",
        out.stdout
    );
    h.pve.assert_no_violations();
    let new = &h.pve.commands()[before..];
    assert!(
        new.iter()
            .any(|c| c[..3] == ["pct", "set", "900"] && c.contains(&"1536".to_string())),
        "{new:?}"
    );
    assert!(
        !new.iter().any(|c| c.len() > 2
            && c[2] == "900"
            && ["start", "snapshot", "exec", "template", "destroy"].contains(&c[1].as_str())),
        "{new:?}"
    );
    assert_eq!(
        h.pve.stand_in_state()["guests"]["900"]["config"]["memory"],
        "1536"
    );

    crate::helpers::set_field(
        &h.defs,
        "900",
        "volumes",
        serde_json::json!([{ "name": "data", "pool": "local-lvm", "size_gb": 4, "mount_point": "/data" }]),
    );
    let before = h.pve.commands().len();
    let out = h.build(&["ct:900"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let detail = out.finished("ct:900")["detail"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        detail.contains("ct:900 is a converted template")
            && detail.contains("phoenix build --force ct:900"),
        "{detail}"
    );
    assert!(
        !h.pve.commands()[before..]
            .iter()
            .any(|c| c[..2] == ["pct", "set"]),
        "nothing is set"
    );
}
