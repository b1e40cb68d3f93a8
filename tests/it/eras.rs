//! Every era of the shell tool's definitions, each in a small tree the test writes:
//! the 2025-08 feature string and `clone_from_template_ctid`, the 2025-08-29
//! `is_template` marker beside a snapshot name, jq's duplicate keys, the 2025-11
//! converted templates, `template_file`, the second interface, `hwaddr` and DHCP.
//! Each is read, planned and (where it reaches Proxmox) dry-run as the pve backend.

use std::collections::BTreeSet;
use std::path::Path;

use phoenix::defs::Severity;
use phoenix::graph::NodeId;
use phoenix::key::NodeKeys;
use phoenix::state::StateDir;
use phoenix::step::Step;
use serde_json::{Value, json};

use crate::helpers::{Output, Site, write_missing_scripts};

/// A site with this hypervisor file and these containers, and a stand-in for every
/// script they name.
fn site(host: &Value, cts: &Value) -> Site {
    let site = Site::empty();
    write(&site.defs, host, &json!({ "lxc_configs": cts }));
    site
}

fn write(defs: &Path, host: &Value, lxc: &Value) {
    std::fs::write(
        defs.join("phoenix_hypervisor_config.json"),
        serde_json::to_string_pretty(host).unwrap(),
    )
    .unwrap();
    std::fs::write(
        defs.join("phoenix_lxc_configs.json"),
        serde_json::to_string_pretty(lxc).unwrap(),
    )
    .unwrap();
    write_missing_scripts(defs);
}

/// A container with a static address `10.0.0.<n>/24`, a MAC and `extra` fields.
fn ct(n: u8, extra: &Value) -> Value {
    let mut v = json!({
        "name": format!("ct{n}"), "memory_mb": 1024, "cores": 1, "storage_pool": "local-lvm",
        "storage_size_gb": 8,
        "network_config": { "name": "eth0", "bridge": "vmbr0", "ip": format!("10.0.0.{n}/24"),
                            "gw": "10.0.0.1" },
        "mac_address": format!("52:54:00:00:00:{n:02X}")
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

const OS: &str = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";

fn host() -> Value {
    json!({ "version": "1",
            "proxmox_storage_ids": { "fastData_shared_iso": "fastData-shared-iso" } })
}

fn validate(site: &Site) -> Output {
    site.phoenix().args(["validate"]).run()
}

/// `build TARGETS --dry-run` as the pve backend: the commands it would run.
fn dry_run(site: &Site, targets: &[&str]) -> String {
    site.phoenix()
        .args(["--backend", "pve", "build", "--dry-run"])
        .args(targets)
        .run()
        .success()
        .stdout
}

fn edges(site: &Site) -> BTreeSet<(String, String, String)> {
    let g = site
        .phoenix()
        .args(["graph", "--format", "json"])
        .run()
        .success()
        .json();
    g["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] != "host")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            (s("from"), s("to"), s("kind"))
        })
        .collect()
}

fn edge(from: &str, to: &str, kind: &str) -> (String, String, String) {
    (from.into(), to.into(), kind.into())
}

fn keys_of(defs: &Path) -> phoenix::graph::NodeMap<NodeKeys> {
    let loaded = phoenix::pipeline::load(defs, Severity::Error);
    assert!(!loaded.diags.has_errors(), "{:?}", loaded.diags.sorted());
    let empty = tempfile::tempdir().unwrap();
    phoenix::pipeline::assess(&loaded, &[], &StateDir::new(empty.path()))
        .unwrap()
        .keys
}

fn chain(k: &NodeKeys) -> Vec<(Step, String)> {
    k.chain
        .iter()
        .map(|s| (s.step.clone(), s.key.hex()))
        .collect()
}

fn configure(k: &NodeKeys) -> String {
    k.configure.as_ref().unwrap().key.hex()
}

/// The late-August 2025 tree (`185f0ab`): Proxmox feature strings in `features`,
/// `clone_from_template_ctid`, `is_template` marking the snapshot templates.
fn august(features_900: &str, clone_field: &str) -> Value {
    json!({
        "900": ct(90, &json!({ "template": OS, "features": features_900,
                               "is_template": true, "template_snapshot_name": "base-snapshot" })),
        "901": ct(91, &json!({ (clone_field): "900", "features": "nesting=1",
                               "is_template": true, "template_snapshot_name": "gpu-snapshot" })),
        "950": ct(95, &json!({ (clone_field): "901" })),
    })
}

#[test]
fn august_2025_feature_strings_and_clone_from_template_ctid() {
    let site = site(
        &host(),
        &august("nesting=1,keyctl=1", "clone_from_template_ctid"),
    );
    let out = validate(&site).success();
    for wanted in [
        "warning: phoenix_lxc_configs.json: lxc_configs.900.features: `features` is a Proxmox feature string (`nesting=1,keyctl=1`): read as `pct_options`",
        "help: move it to \"pct_options\": [\"nesting=1\", \"keyctl=1\"]",
        "warning: phoenix_lxc_configs.json: lxc_configs.901.clone_from_template_ctid: `clone_from_template_ctid` is read as `clone_from_ctid`",
        "warning: phoenix_lxc_configs.json: lxc_configs.900.is_template: `is_template` and `template_snapshot_name` are both set: read as a snapshot template",
    ] {
        assert!(out.stderr.contains(wanted), "{wanted}\n{}", out.stderr);
    }
    assert!(!out.stderr.contains("unknown field"), "{}", out.stderr);
    let e = edges(&site);
    assert_eq!(
        e,
        [
            edge("ct:901", "ct:900", "clone"),
            edge("ct:950", "ct:901", "clone")
        ]
        .into_iter()
        .collect()
    );
    // No feature scripts; the string is the `--features` setting, and clones start
    // from the snapshot.
    let plan = site.plan(&["950"]);
    let steps = |node: &str| -> Vec<String> {
        let a = plan["actions"].as_array().unwrap();
        let a = a.iter().find(|a| a["node"] == node).unwrap();
        serde_json::from_value(a["steps"].clone()).unwrap()
    };
    assert_eq!(steps("ct:900"), ["define", "configure", "snapshot"]);
    let cmds = dry_run(&site, &["950"]);
    assert!(cmds.contains("--features nesting=1,keyctl=1"), "{cmds}");
    assert!(
        cmds.contains("pct clone 900 901 --snapname base-snapshot"),
        "{cmds}"
    );
    assert!(!cmds.contains("pct template"), "{cmds}");
}

#[test]
fn a_feature_string_is_a_setting_and_the_old_clone_name_changes_no_key() {
    let site = site(
        &host(),
        &august("nesting=1,keyctl=1", "clone_from_template_ctid"),
    );
    let before = keys_of(&site.defs);

    write(
        &site.defs,
        &host(),
        &json!({ "lxc_configs": august("nesting=1", "clone_from_template_ctid") }),
    );
    let after = keys_of(&site.defs);
    let (b, a) = (&before[&NodeId::Ct(900)], &after[&NodeId::Ct(900)]);
    assert_eq!(chain(b), chain(a), "define and snapshot keys stay");
    assert_ne!(configure(b), configure(a), "the setting changed");
    assert_eq!(
        chain(&before[&NodeId::Ct(950)]),
        chain(&after[&NodeId::Ct(950)]),
        "nothing to rebuild downstream"
    );

    // Renamed to the modern field, as the warning says: the same keys.
    write(
        &site.defs,
        &host(),
        &json!({ "lxc_configs": august("nesting=1", "clone_from_ctid") }),
    );
    let renamed = keys_of(&site.defs);
    for id in [900, 901, 950] {
        let (a, r) = (&after[&NodeId::Ct(id)], &renamed[&NodeId::Ct(id)]);
        assert_eq!(chain(a), chain(r), "ct:{id}");
        assert_eq!(configure(a), configure(r), "ct:{id}");
    }
}

/// The LXC file as text with `950`'s block repeated after `copy_fields` replaced it.
fn with_repeated_guest(copy: &str) -> String {
    let lxc = json!({ "lxc_configs": {
        "900": ct(90, &json!({ "template": OS, "is_template": true })),
        "950": ct(95, &json!({ "clone_from_ctid": "900" })),
    } });
    let text = serde_json::to_string_pretty(&lxc).unwrap();
    let end = text.rfind("\n  }\n}").unwrap();
    format!("{},\n    \"950\": {copy}{}", &text[..end], &text[end..])
}

/// `line:column` (from 1) of every occurrence of `needle` in `text`.
fn places(text: &str, needle: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| l.find(needle).map(|c| format!("{}:{}", i + 1, c + 1)))
        .collect()
}

#[test]
fn duplicate_keys_last_one_wins_as_in_jq() {
    let site = site(&host(), &json!({}));
    let lxc = site.defs.join("phoenix_lxc_configs.json");
    // The same guest twice, the same value: read, with a warning naming both places.
    let same = serde_json::to_string(&ct(95, &json!({ "clone_from_ctid": "900" }))).unwrap();
    let text = with_repeated_guest(&same);
    std::fs::write(&lxc, &text).unwrap();
    write_missing_scripts(&site.defs);
    let out = validate(&site).success();
    let [first, second] = &places(&text, "\"950\"")[..] else {
        panic!("{text}")
    };
    assert!(
        out.stderr.contains(&format!("warning: phoenix_lxc_configs.json: lxc_configs.950: key `950` is written twice with the same value, at {first} and {second}; the last one is used, as jq does")),
        "{}",
        out.stderr
    );
    assert!(
        edges(&site).contains(&edge("ct:950", "ct:900", "clone")),
        "the guest is there"
    );

    // A different guest under the same ID: refused, both values shown.
    let other = serde_json::to_string(&ct(96, &json!({ "clone_from_ctid": "900" }))).unwrap();
    std::fs::write(&lxc, with_repeated_guest(&other)).unwrap();
    let out = validate(&site).code(3);
    for wanted in [
        "error: phoenix_lxc_configs.json: lxc_configs.950: key `950` is written twice with different values: `{\"clone_from_ctid\":\"900\",\"cores\":1,",
        &format!("at {first}, `{{\"clone_from_ctid\":\"900\",\"cores\":1,"),
        &format!("` at {second}\n"),
        "(they differ in `mac_address`, `name`, `network_config`)",
    ] {
        assert!(out.stderr.contains(wanted), "{wanted}\n{}", out.stderr);
    }
    let out = site.phoenix().args(["plan"]).run().code(3);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[test]
fn november_2025_converted_template_chain() {
    let cts = json!({
        "900": ct(90, &json!({ "template": OS, "is_template": true, "features": ["base_setup"] })),
        "901": ct(91, &json!({ "clone_from_ctid": "900", "is_template": true, "features": ["nvidia"] })),
        "910": ct(92, &json!({ "clone_from_ctid": "901", "template_snapshot_name": "final-form" })),
        "950": ct(95, &json!({ "clone_from_ctid": "901" })),
        "951": ct(96, &json!({ "clone_from_ctid": "910" })),
    });
    let site = site(&host(), &cts);
    let out = validate(&site).success();
    assert!(!out.stderr.contains("is_template"), "{}", out.stderr);
    let plan = site.plan(&["all"]);
    let last_step = |node: &str| -> String {
        let a = plan["actions"].as_array().unwrap();
        let a = a.iter().find(|a| a["node"] == node).unwrap();
        a["steps"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(last_step("ct:900"), "template");
    assert_eq!(last_step("ct:901"), "template");
    assert_eq!(last_step("ct:910"), "snapshot");
    let cmds = dry_run(&site, &["all"]);
    for wanted in [
        "pct template 900",
        "pct template 901",
        "pct clone 900 901 --hostname ct91\n",
        "pct clone 901 950 --hostname ct95\n",
        "pct clone 910 951 --snapname final-form",
    ] {
        assert!(cmds.contains(wanted), "{wanted}\n{cmds}");
    }

    // A bind mount on a converted template: `pct template` would refuse it at the
    // end of a long build, so validate does now.
    let mut cts = cts;
    cts["901"]["mount_points"] = json!([{ "host_path": "/srv/ca", "container_path": "/ca" }]);
    write(&site.defs, &host(), &json!({ "lxc_configs": cts }));
    let out = validate(&site).code(3);
    assert!(
        out.stderr.contains("error: phoenix_lxc_configs.json: lxc_configs.901.is_template: Proxmox cannot convert ct:901 into a template: bind mount `/srv/ca` at `/ca`"),
        "{}",
        out.stderr
    );
}

#[test]
fn november_2025_second_interface_hwaddr_and_dhcp() {
    let cts = json!({
        "900": ct(90, &json!({ "template": OS, "is_template": true })),
        "101": ct(101, &json!({
            "clone_from_ctid": "900",
            "mac_address": "02:00:00:00:01:01",
            "network_config": { "name": "eth0", "bridge": "vmbr0.20", "ip": "dhcp",
                                "hwaddr": "02:00:00:00:01:01" },
            "secondary_network_config": { "name": "eth1", "bridge": "vmbr100",
                "ip": "172.16.100.10/24", "hwaddr": "02:00:00:00:01:02", "gw": "172.16.100.1" } })),
    });
    let site = site(&host(), &cts);
    let out = validate(&site).success();
    assert!(
        !out.stderr.contains("101"),
        "nothing to say: {}",
        out.stderr
    );
    let cmds = dry_run(&site, &["101"]);
    assert!(
        cmds.contains("name=eth0,bridge=vmbr0.20,ip=dhcp,hwaddr=02:00:00:00:01:01"),
        "{cmds}"
    );

    // hwaddr beside a different mac_address, a gateway beside DHCP, and the second
    // interface on another guest's address: the first two warn, the last is refused.
    let mut cts = cts;
    cts["101"]["network_config"]["hwaddr"] = json!("02:00:00:00:01:09");
    cts["101"]["network_config"]["gw"] = json!("10.0.0.1");
    cts["101"]["secondary_network_config"]["ip"] = json!("10.0.0.90/24");
    write(&site.defs, &host(), &json!({ "lxc_configs": cts }));
    let out = validate(&site).code(3);
    for wanted in [
        "warning: phoenix_lxc_configs.json: lxc_configs.101.network_config.hwaddr: `hwaddr` 02:00:00:00:01:09 differs from `mac_address` 02:00:00:00:01:01: the interface gets 02:00:00:00:01:09",
        "warning: phoenix_lxc_configs.json: lxc_configs.101.network_config.gw: gateway 10.0.0.1 is kept beside `ip: dhcp`",
        "error: phoenix_lxc_configs.json: lxc_configs.900.network_config.ip: address 10.0.0.90 is also used by ct:101's secondary_network_config",
    ] {
        assert!(out.stderr.contains(wanted), "{wanted}\n{}", out.stderr);
    }
}

#[test]
fn november_2025_template_file_with_and_without_a_clone_source() {
    let cts = json!({
        "900": ct(90, &json!({ "template_file": "base-v1.tar.gz", "is_template": true })),
        "101": ct(101, &json!({ "template_file": "nginx-v1.tar.gz", "clone_from_ctid": "900" })),
    });
    let site = site(&host(), &cts);
    let out = validate(&site).success();
    assert!(
        out.stderr.contains("warning: phoenix_lxc_configs.json: lxc_configs.101.template_file: `template_file` is not used: the container is cloned from its `clone_from_ctid`"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("unknown field"), "{}", out.stderr);
    let cmds = dry_run(&site, &["101"]);
    assert!(
        cmds.contains("pct create 900 fastData-shared-iso:vztmpl/base-v1.tar.gz "),
        "{cmds}"
    );
    assert!(
        cmds.contains("pct clone 900 101 --hostname ct101"),
        "{cmds}"
    );
    assert!(!cmds.contains("nginx-v1"), "{cmds}");

    // The storage a template_file is on is part of what the container is made from.
    let before = keys_of(&site.defs);
    let moved = json!({ "version": "1",
                        "proxmox_storage_ids": { "fastData_shared_iso": "other-iso" } });
    write(&site.defs, &moved, &json!({ "lxc_configs": cts }));
    let after = keys_of(&site.defs);
    assert_ne!(
        chain(&before[&NodeId::Ct(900)])[0],
        chain(&after[&NodeId::Ct(900)])[0]
    );

    // Without an ISO storage, there is nothing to create 900 from.
    write(
        &site.defs,
        &json!({ "version": "1" }),
        &json!({ "lxc_configs": cts }),
    );
    let out = validate(&site).code(3);
    assert!(
        out.stderr.contains("error: phoenix_lxc_configs.json: lxc_configs.900.template_file: no ISO storage is known to find `base-v1.tar.gz` on"),
        "{}",
        out.stderr
    );
}
