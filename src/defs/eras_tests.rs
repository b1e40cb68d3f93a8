//! The reading rules of every era of the definitions (`eras`, `net`, `dupkeys`):
//! each old form read into the model, with the warning or error it deserves.

use serde_json::{Value, json};

use super::*;

/// Load a directory holding this hypervisor file and these containers.
fn load_with(host: &Value, lxc: &Value) -> (Definitions, Diagnostics) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(layout::HYPERVISOR_FILE), host.to_string()).unwrap();
    std::fs::write(dir.path().join(layout::LXC_FILE), lxc.to_string()).unwrap();
    load(dir.path())
}

fn load_cts(cts: &Value) -> (Definitions, Diagnostics) {
    let host = json!({ "proxmox_storage_ids": { "fastData_shared_iso": "fastData-shared-iso" } });
    load_with(&host, &json!({ "lxc_configs": cts }))
}

/// A container with an OS template and `extra` fields.
fn ct(extra: &Value) -> Value {
    let mut v = json!({ "name": "c", "template": "local:vztmpl/os.tar.zst", "memory_mb": 512 });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn lines(diags: &Diagnostics, errors: bool) -> Vec<String> {
    diags
        .0
        .iter()
        .filter(|d| d.is_error() == errors)
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect()
}

#[track_caller]
fn has(lines: &[String], wanted: &str) {
    assert!(
        lines.iter().any(|l| l.contains(wanted)),
        "no {wanted:?} in {lines:#?}"
    );
}

#[test]
fn a_feature_string_is_the_proxmox_features_setting() {
    let (defs, diags) = load_cts(&json!({
        "900": ct(&json!({ "features": "nesting=1, keyctl=1" })),
        "901": ct(&json!({ "features": "nesting=1,fuse=1", "pct_options": ["nesting=1", "mknod=1"] })),
        "902": ct(&json!({ "features": "docker" })),
    }));
    let g = defs.guest(900).unwrap();
    assert_eq!(g.settings.pct_features, ["nesting=1", "keyctl=1"]);
    assert!(g.features.is_empty(), "no feature scripts");
    has(
        &lines(&diags, false),
        "lxc_configs.900.features: `features` is a Proxmox feature string (`nesting=1, keyctl=1`): read as `pct_options`",
    );
    // Merged after pct_options, a repeated part kept once.
    let g = defs.guest(901).unwrap();
    assert_eq!(g.settings.pct_features, ["nesting=1", "mknod=1", "fuse=1"]);
    // A bare name is still the list written as a string.
    has(
        &lines(&diags, true),
        "lxc_configs.902.features: expected an array, found the string \"docker\"",
    );
    assert_eq!(lines(&diags, true).len(), 1, "{:#?}", lines(&diags, true));
}

#[test]
fn the_feature_string_enters_the_configure_step_and_the_old_clone_field_as_the_new() {
    let string = json!("nesting=1");
    let (class, name) = fields::key_entry(GuestKind::Ct, "features", &string);
    assert_eq!((class, name), (fields::Class::Configure, "features"));
    let list = json!(["base_setup"]);
    let (class, _) = fields::key_entry(GuestKind::Ct, "features", &list);
    assert_eq!(class, fields::Class::Structural);
    let (class, _) = fields::key_entry(GuestKind::Vm, "features", &string);
    assert_eq!(class, fields::Class::Structural, "VMs never had the string");
    let (class, name) = fields::key_entry(GuestKind::Ct, "clone_from_template_ctid", &json!("900"));
    assert_eq!((class, name), (fields::Class::Define, "clone_from_ctid"));
}

#[test]
fn conflicting_proxmox_features_are_an_error_showing_both() {
    let (defs, diags) = load_cts(&json!({
        "900": ct(&json!({ "features": "nesting=1,keyctl=1", "pct_options": ["keyctl=0"] })),
        "901": ct(&json!({ "pct_options": ["nesting=1,nesting=0"] })),
    }));
    let errors = lines(&diags, true);
    has(
        &errors,
        "lxc_configs.900.features: Proxmox feature `keyctl` is `keyctl=1` here but `keyctl=0` at lxc_configs.900.pct_options[0]",
    );
    has(
        &errors,
        "lxc_configs.901.pct_options[0]: Proxmox feature `nesting` is `nesting=0` here but `nesting=1`",
    );
    assert_eq!(
        defs.guest(900).unwrap().settings.pct_features,
        ["keyctl=0", "nesting=1"]
    );
}

#[test]
fn clone_from_template_ctid_is_clone_from_ctid() {
    let tpl = ct(&json!({ "template_snapshot_name": "base" }));
    let (defs, diags) = load_cts(&json!({
        "900": tpl,
        "901": ct(&json!({ "template_snapshot_name": "bs" })),
        "950": { "name": "a", "clone_from_template_ctid": "900" },
        "951": { "name": "b", "clone_from_template_ctid": 900, "clone_from_ctid": "900" },
        "952": { "name": "c", "clone_from_template_ctid": "901", "clone_from_ctid": "900" },
    }));
    let src = |id| defs.guest(id).unwrap().clone_from.clone().unwrap();
    assert_eq!(
        src(950),
        (900, "lxc_configs.950.clone_from_template_ctid".into())
    );
    assert_eq!(src(951), (900, "lxc_configs.951.clone_from_ctid".into()));
    assert_eq!(src(952), (900, "lxc_configs.952.clone_from_ctid".into()));
    let warnings = lines(&diags, false);
    has(
        &warnings,
        "lxc_configs.950.clone_from_template_ctid: `clone_from_template_ctid` is read as `clone_from_ctid`",
    );
    has(
        &warnings,
        "lxc_configs.951.clone_from_template_ctid: `clone_from_template_ctid` repeats `clone_from_ctid`",
    );
    let errors = lines(&diags, true);
    assert_eq!(
        errors,
        [
            "lxc_configs.952.clone_from_template_ctid: `clone_from_template_ctid` says 901 but `clone_from_ctid` says 900"
        ]
    );
}

#[test]
fn is_template_beside_a_snapshot_name_is_the_snapshot_model() {
    let bind = json!([{ "host_path": "/srv/a", "container_path": "/a" }]);
    let (defs, diags) = load_cts(&json!({
        "900": ct(&json!({ "is_template": true, "template_snapshot_name": "base-snapshot" })),
        "901": ct(&json!({ "is_template": true })),
        "902": ct(&json!({ "is_template": true, "mount_points": bind })),
        "903": ct(&json!({ "is_template": false })),
        "950": { "name": "x", "clone_from_ctid": 903 },
    }));
    let model = |id| defs.guest(id).unwrap().template.clone();
    assert_eq!(
        model(900),
        TemplateModel::Snapshot {
            name: "base-snapshot".into()
        }
    );
    assert_eq!(model(901), TemplateModel::Converted);
    assert_eq!(model(903), TemplateModel::None);
    has(
        &lines(&diags, false),
        "lxc_configs.900.is_template: `is_template` and `template_snapshot_name` are both set: read as a snapshot template, clones start from snapshot `base-snapshot`",
    );
    let errors = lines(&diags, true);
    has(
        &errors,
        "lxc_configs.902.is_template: Proxmox cannot convert ct:902 into a template: bind mount `/srv/a` at `/a`",
    );
    has(
        &errors,
        "lxc_configs.950.clone_from_ctid: clone source ct:903 is not a template",
    );
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(template_blocker(defs.guest(901).unwrap()).is_none());
}

#[test]
fn template_file_is_a_tarball_on_the_iso_storage_unless_the_container_is_a_clone() {
    let (defs, diags) = load_cts(&json!({
        "900": { "name": "a", "template_file": "base-v1.tar.gz", "template_snapshot_name": "ts" },
        "901": { "name": "b", "template_file": "b.tar.gz", "template": "/t/os.tar.zst" },
        "902": { "name": "c", "template_file": "c.tar.gz", "clone_from_ctid": "900" },
        "903": { "name": "d", "template_file": "../etc/shadow" },
    }));
    let shape = |id| defs.guest(id).unwrap().shape.clone();
    assert_eq!(
        shape(900).os_template.as_deref(),
        Some("fastData-shared-iso:vztmpl/base-v1.tar.gz")
    );
    assert_eq!(
        shape(900).template_storage.as_deref(),
        Some("fastData-shared-iso")
    );
    assert_eq!(
        shape(901).os_template.as_deref(),
        Some("fastData-shared-iso:vztmpl/b.tar.gz"),
        "template_file wins over template"
    );
    assert_eq!(shape(902).template_storage, None, "a clone is not created");
    let warnings = lines(&diags, false);
    has(
        &warnings,
        "lxc_configs.901.template: `template` (`/t/os.tar.zst`) is not used: `template_file` names the OS template",
    );
    has(
        &warnings,
        "lxc_configs.902.template_file: `template_file` is not used: the container is cloned from its `clone_from_ctid`",
    );
    assert!(
        !warnings.iter().any(|w| w.contains("unknown field")),
        "{warnings:#?}"
    );
    assert_eq!(
        lines(&diags, true),
        ["lxc_configs.903.template_file: `../etc/shadow` is not a plain file name"]
    );
    assert_eq!(
        fields::classify_ct("template_file"),
        fields::Class::Define,
        "a new tarball is a new container"
    );
}

#[test]
fn the_iso_storage_is_the_shell_tools_key_else_the_one_iso_entry() {
    let cts = json!({ "lxc_configs": { "900": { "name": "a", "template_file": "a.tar.gz" } } });
    let os = |host: Value| {
        let (defs, diags) = load_with(&host, &cts);
        (
            defs.guest(900).unwrap().shape.os_template.clone(),
            lines(&diags, true),
        )
    };
    let (t, _) = os(json!({ "proxmox_storage_ids": { "local_iso": "isos", "lxc": "disks" } }));
    assert_eq!(t.as_deref(), Some("isos:vztmpl/a.tar.gz"));
    let (t, errors) = os(json!({ "proxmox_storage_ids": { "a_iso": "x", "b_iso": "y" } }));
    assert_eq!(t, None);
    has(
        &errors,
        "lxc_configs.900.template_file: no ISO storage is known to find `a.tar.gz` on",
    );
}

#[test]
fn interfaces_dhcp_gateway_secondary_and_hwaddr() {
    let (defs, diags) = load_cts(&json!({
        "101": ct(&json!({
            "mac_address": "02:00:00:00:01:01",
            "network_config": { "name": "eth0", "bridge": "vmbr0.20", "ip": "dhcp",
                                "hwaddr": "02:00:00:00:01:09", "gw": "10.0.0.1" },
            "secondary_network_config": { "bridge": "vmbr100", "ip": "172.16.100.10/24",
                                          "hwaddr": "02:00:00:00:01:02", "gw": "172.16.100.1" } })),
        "102": ct(&json!({
            "network_config": { "name": "eth0", "bridge": "vmbr0", "ip": "172.16.100.10/24" },
            "secondary_network_config": { "name": "eth0", "ip": "10.1.0.2/24", "hwaddr": "02:00:00:00:01:09" } })),
        "103": ct(&json!({
            "mac_address": "52:54:00:00:00:03",
            "network_config": { "bridge": "vmbr0", "ip": "10.0.0.3/24" },
            "secondary_network_config": { "bridge": "vmbr1", "ip": "10.0.0.3/24",
                                          "hwaddr": "52:54:00:00:00:03" } })),
    }));
    let g = defs.guest(101).unwrap();
    assert_eq!(g.net.ip, Some(IpConfig::Dhcp));
    assert_eq!(
        g.net.gateway.map(|g| g.to_string()).as_deref(),
        Some("10.0.0.1"),
        "kept"
    );
    assert_eq!(
        g.net.mac.as_deref(),
        Some("02:00:00:00:01:09"),
        "hwaddr wins"
    );
    let net1 = g.net1.as_ref().unwrap();
    assert_eq!(
        (net1.name.as_deref(), net1.bridge.as_deref()),
        (Some("eth1"), Some("vmbr100"))
    );
    let warnings = lines(&diags, false);
    has(
        &warnings,
        "lxc_configs.101.network_config.hwaddr: `hwaddr` 02:00:00:00:01:09 differs from `mac_address` 02:00:00:00:01:01: the interface gets 02:00:00:00:01:09",
    );
    has(
        &warnings,
        "lxc_configs.101.network_config.gw: gateway 10.0.0.1 is kept beside `ip: dhcp`",
    );
    let errors = lines(&diags, true);
    for wanted in [
        "lxc_configs.102.network_config.ip: address 172.16.100.10 is also used by ct:101's secondary_network_config",
        "lxc_configs.102.secondary_network_config.hwaddr: MAC 02:00:00:00:01:09 is also used by ct:101",
        "lxc_configs.102.secondary_network_config: missing `bridge`",
        "lxc_configs.102.secondary_network_config.name: `eth0` is also the name of `network_config`",
        "lxc_configs.103.secondary_network_config.ip: address 10.0.0.3 is also used by its network_config",
        "lxc_configs.103.secondary_network_config.hwaddr: MAC 52:54:00:00:00:03 is also used by its network_config",
    ] {
        has(&errors, wanted);
    }
    assert_eq!(errors.len(), 6, "{errors:#?}");
}

#[test]
fn duplicate_keys_are_read_as_jq_does_and_refused_where_guests_differ() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(layout::HYPERVISOR_FILE),
        r#"{"author": "a", "author": "b", "admin_password": "x", "admin_password": "y"}"#,
    )
    .unwrap();
    let lxc = r#"{"lxc_configs": {
        "900": {"name": "a", "template": "t", "memory_mb": 512, "memory_mb": 512},
        "901": {"name": "b", "template": "t", "cores": 1, "cores": 2},
        "902": {"name": "c", "template": "t"},
        "902": {"template": "t", "name": "c"}
    }}"#;
    std::fs::write(dir.path().join(layout::LXC_FILE), lxc).unwrap();
    let (defs, diags) = load(dir.path());
    assert_eq!(defs.guest(901).unwrap().settings.cores, Some(2), "the last");
    assert_eq!(defs.host["author"], "b");
    let warnings = lines(&diags, false);
    has(
        &warnings,
        "lxc_configs.900.memory_mb: key `memory_mb` is written twice with the same value, at 2:47 and 2:65; the last one is used, as jq does",
    );
    has(
        &warnings,
        "lxc_configs.902: key `902` is written twice with the same value",
    );
    has(
        &warnings,
        "author: key `author` is written twice with different values: `\"a\"` at 1:2, `\"b\"` at 1:17",
    );
    has(
        &warnings,
        "admin_password: key `admin_password` is written twice with different values: `\"<secret>\"` at",
    );
    assert!(
        !warnings.iter().any(|w| w.contains("\"x\"")),
        "{warnings:#?}"
    );
    assert_eq!(
        lines(&diags, true),
        [
            "lxc_configs.901.cores: key `cores` is written twice with different values: `1` at 3:47, `2` at 3:59"
        ]
    );
}
