//! The comparison from the strings Proxmox prints: a guest as defined matches
//! everywhere; each kind of change shows as exactly the setting it changed.

use serde_json::{Value, json};

use super::shape::{linked_base, ostype_of};
use super::*;
use crate::defs::layout;
use crate::live::drift_reason;

/// Definitions of these containers and VMs.
fn defs_of(cts: &Value, vms: &Value) -> Definitions {
    let dir = tempfile::tempdir().unwrap();
    let write =
        |name: &str, v: Value| std::fs::write(dir.path().join(name), v.to_string()).unwrap();
    write(layout::HYPERVISOR_FILE, json!({}));
    write(layout::LXC_FILE, json!({ "lxc_configs": cts }));
    write(
        layout::VM_FILE,
        json!({ "vm_defaults": { "storage_pool": "local-lvm", "network_bridge": "vmbr0" }, "vms": vms }),
    );
    let (defs, diags) = crate::defs::load(dir.path());
    assert!(
        diags
            .0
            .iter()
            .all(|d| d.severity != crate::defs::Severity::Error),
        "{diags:?}"
    );
    defs
}

/// A converted Debian template 900 on ZFS and its linked clone 950 with a
/// firewall.
fn containers() -> Value {
    let net = |ip: &str, mac: Option<&str>| {
        let mut n = json!({ "name": "eth0", "bridge": "vmbr0", "ip": ip, "gw": "10.0.3.1" });
        if let Some(m) = mac {
            n["hwaddr"] = json!(m);
        }
        n
    };
    json!({
        "900": { "name": "base", "template": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
                 "storage_pool": "tank", "storage_size_gb": 4, "unprivileged": true,
                 "is_template": true, "network_config": net("10.0.3.200/24", None) },
        "950": { "name": "demo", "clone_from_ctid": "900", "storage_pool": "tank",
                 "storage_size_gb": 4, "memory_mb": 1024, "cores": 2, "unprivileged": true,
                 "start_at_boot": true, "boot_order": 4,
                 "network_config": net("10.0.3.150/24", Some("bc:24:11:00:09:50")),
                 "firewall": { "enabled": true, "policy_in": "DROP", "rules": [
                     { "type": "in", "action": "ACCEPT", "proto": "tcp", "port": "22",
                       "source": "10.0.3.0/24", "comment": "ssh" },
                     { "type": "out", "action": "DROP", "dest": "10.0.9.0/24" } ] } }
    })
}

/// 950 as `pct config --current 1` prints it when it is as defined: net0 as
/// pve-container writes it (its keys sorted, `type=veth`, the MAC in upper case),
/// Proxmox's own defaults and the user's tags beside.
const CONFIG_950: &str = "arch: amd64\ncores: 2\nhostname: demo\nmemory: 1024\nnet0: name=eth0,bridge=vmbr0,firewall=1,gw=10.0.3.1,hwaddr=BC:24:11:00:09:50,ip=10.0.3.150/24,type=veth\nonboot: 1\nostype: debian\nrootfs: tank:basevol-900-disk-0/subvol-950-disk-0,size=4G\nstartup: order=4,up=0,down=0\nswap: 512\ntags: phoenix;web\nunprivileged: 1\n\n[before]\nmemory: 4\n";

const RULES_950: &str = r#"[{"pos":1,"type":"out","action":"DROP","dest":"10.0.9.0/24","enable":1},
  {"pos":0,"type":"in","action":"ACCEPT","proto":"tcp","dport":22,"source":"10.0.3.0/24","enable":1,"comment":"ssh"}]"#;

fn live_950() -> Live {
    Live {
        config: CONFIG_950.into(),
        pending: String::new(),
        firewall_options: r#"{"enable":1,"policy_in":"DROP"}"#.into(),
        firewall_rules: RULES_950.into(),
        snapshots: vec!["before".into()],
        running: true,
    }
}

fn observe(defs: &Definitions, id: u32, live: &Live) -> Observation {
    compare(defs, defs.guest(id).unwrap(), live).unwrap()
}

fn differing(o: &Observation) -> Vec<&str> {
    o.differing().map(|s| s.name.as_str()).collect()
}

fn setting<'a>(o: &'a Observation, name: &str) -> &'a Setting {
    o.settings
        .iter()
        .chain(&o.shape)
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no setting `{name}` in {o:#?}"))
}

#[test]
fn a_guest_as_defined_matches_in_every_setting_and_its_shape() {
    let defs = defs_of(&containers(), &json!([]));
    let o = observe(&defs, 950, &live_950());
    assert!(differing(&o).is_empty(), "{:#?}", o.settings);
    assert_eq!(o.shape_mismatches().count(), 0, "{:#?}", o.shape);
    let names: Vec<&str> = o.settings.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "hostname",
            "memory",
            "cores",
            "onboot",
            "net0",
            "startup",
            "rootfs size",
            "enable",
            "policy_in",
            "rule 1",
            "rule 2"
        ]
    );
    let shape: Vec<&str> = o.shape.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        shape,
        [
            "ostype",
            "unprivileged",
            "template",
            "rootfs storage",
            "linked clone of"
        ]
    );
    assert_eq!(setting(&o, "memory").field, "memory_mb");
    assert_eq!(setting(&o, "net0").field, "network_config");
    assert_eq!(
        setting(&o, "rule 1").live.as_deref(),
        Some("IN ACCEPT -source 10.0.3.0/24 -p tcp -dport 22 # ssh")
    );
    assert_eq!(setting(&o, "linked clone of").live.as_deref(), Some("900"));
    assert!(o.running && !o.template);
    assert_eq!(o.snapshots, ["before"]);
}

#[test]
fn changed_memory_is_the_one_difference_with_both_values() {
    let defs = defs_of(&containers(), &json!([]));
    let mut live = live_950();
    live.config = live.config.replace("memory: 1024", "memory: 8192");
    let o = observe(&defs, 950, &live);
    assert_eq!(differing(&o), ["memory"]);
    let m = setting(&o, "memory");
    assert_eq!(
        (m.live.as_deref(), m.want.as_deref()),
        (Some("8192"), Some("1024"))
    );
    assert_eq!(
        drift_reason(m),
        "memory_mb (memory) changed outside phoenix: 1024 → 8192; update restores 1024"
    );
}

#[test]
fn a_deleted_firewall_rule_differs_by_position() {
    let defs = defs_of(&containers(), &json!([]));
    let mut live = live_950();
    // `pvesh delete .../rules/1`: the second rule gone.
    live.firewall_rules = r#"[{"pos":0,"type":"in","action":"ACCEPT","proto":"tcp","dport":"22","source":"10.0.3.0/24","enable":1,"comment":"ssh"}]"#.into();
    let o = observe(&defs, 950, &live);
    assert_eq!(differing(&o), ["rule 2"]);
    let r = setting(&o, "rule 2");
    assert_eq!(r.live, None);
    assert_eq!(r.want.as_deref(), Some("OUT DROP -dest 10.0.9.0/24"));
    assert!(drift_reason(r).starts_with("firewall (rule 2) changed outside phoenix: OUT DROP"));
    // Disabled, or switched off: the rule reads `|...`, the switch 0.
    live.firewall_rules = RULES_950.replace(r#""enable":1,"comment""#, r#""enable":0,"comment""#);
    live.firewall_options = "{}".into();
    let o = observe(&defs, 950, &live);
    assert_eq!(differing(&o), ["enable", "rule 1"]);
    assert!(setting(&o, "rule 1").live_text().starts_with("|IN ACCEPT"));
    // An extra rule phoenix would delete.
    live = live_950();
    live.firewall_rules = RULES_950.replace(
        '[',
        r#"[{"pos":2,"type":"in","action":"ACCEPT","macro":"SSH","log":"nolog","enable":1},"#,
    );
    let o = observe(&defs, 950, &live);
    assert_eq!(differing(&o), ["rule 3"]);
    assert_eq!(setting(&o, "rule 3").live_text(), "IN SSH(ACCEPT)");
    assert_eq!(setting(&o, "rule 3").want, None);
}

#[test]
fn key_order_case_and_a_generated_mac_are_no_difference() {
    // 900 defines no MAC: the one Proxmox generated is not compared.
    let defs = defs_of(&containers(), &json!([]));
    let live = Live {
        config: "hostname: base\nnet0: type=veth,ip=10.0.3.200/24,hwaddr=BC:24:11:5E:77:01,gw=10.0.3.1,bridge=vmbr0,name=eth0\nonboot: 0\nostype: debian\nrootfs: tank:basevol-900-disk-0,size=8G\ntemplate: 1\nunprivileged: 1\n".into(),
        firewall_options: "{}".into(),
        firewall_rules: "[]".into(),
        ..Live::default()
    };
    let o = observe(&defs, 900, &live);
    assert!(differing(&o).is_empty(), "{:#?}", o.settings);
    assert!(o.template && o.shape_mismatches().count() == 0, "{o:#?}");
    // A disk larger than defined is what configure leaves; smaller, it grows it.
    assert_eq!(setting(&o, "rootfs size").want.as_deref(), Some("8G"));
    let small = Live {
        config: live.config.replace("size=8G", "size=2G"),
        ..live.clone()
    };
    let s = observe(&defs, 900, &small);
    assert_eq!(differing(&s), ["rootfs size"]);
    assert_eq!(setting(&s, "rootfs size").want.as_deref(), Some("4G"));
    // Another address is a difference; the hwaddr a definition gives is compared.
    let moved = Live {
        config: live.config.replace("ip=10.0.3.200/24", "ip=10.0.3.9/24"),
        ..live.clone()
    };
    assert_eq!(differing(&observe(&defs, 900, &moved)), ["net0"]);
    let mut other_mac = live_950();
    other_mac.config = other_mac
        .config
        .replace("BC:24:11:00:09:50", "BC:24:11:00:09:51");
    assert_eq!(differing(&observe(&defs, 950, &other_mac)), ["net0"]);
}

#[test]
fn another_base_or_another_os_is_a_shape_mismatch() {
    let defs = defs_of(&containers(), &json!([]));
    let mut live = live_950();
    live.config = live
        .config
        .replace("basevol-900-disk-0/", "basevol-901-disk-0/");
    let o = observe(&defs, 950, &live);
    let bad: Vec<(&str, &str, &str)> = o
        .shape_mismatches()
        .map(|s| (s.name.as_str(), s.live_text(), s.want_text()))
        .collect();
    assert_eq!(bad, [("linked clone of", "901", "900")]);
    assert!(differing(&o).is_empty(), "settings are not shape");

    let mut live = live_950();
    live.config = live.config.replace("ostype: debian", "ostype: ubuntu");
    let bad: Vec<String> = observe(&defs, 950, &live)
        .shape_mismatches()
        .map(|s| format!("{} {} {}", s.name, s.live_text(), s.want_text()))
        .collect();
    assert_eq!(bad, ["ostype ubuntu debian"]);

    // Defined as no clone, but the volume shows a base; on another storage.
    let mut live = live_950();
    live.config = live
        .config
        .replace("tank:basevol-900-disk-0/subvol-950", "fast:subvol-950");
    let o = observe(&defs, 950, &live);
    let bad: Vec<&str> = o.shape_mismatches().map(|s| s.name.as_str()).collect();
    assert_eq!(bad, ["rootfs storage"]);
}

#[test]
fn a_pending_change_differs_until_the_guest_restarts() {
    let defs = defs_of(&containers(), &json!([]));
    let mut live = live_950();
    live.pending = "cur memory: 1024\nnew memory: 2048\ncur cores: 2\nnew cores: 2\ncur swap: 512\nnew swap: 0\n".into();
    let o = observe(&defs, 950, &live);
    assert_eq!(differing(&o), ["memory"], "{:#?}", o.settings);
    assert_eq!(setting(&o, "memory").live_text(), "1024 (pending: 2048)");
    live.pending = "del onboot: 1\n".into();
    let o = observe(&defs, 950, &live);
    assert_eq!(setting(&o, "onboot").live_text(), "1 (pending: delete)");
}

#[test]
fn raw_lines_mounts_and_interfaces_phoenix_does_not_define_are_differences() {
    let mut cts = containers();
    cts["950"]["lxc_options"] = json!(["lxc.apparmor.profile=unconfined", "lxc.mount.auto:sys:rw"]);
    cts["950"]["mount_points"] = json!([{ "host_path": "/srv/demo", "container_path": "/data" }]);
    let defs = defs_of(&cts, &json!([]));
    let mut live = live_950();
    live.config = live.config.replace(
        "onboot: 1\n",
        "mp0: /srv/demo,mp=/data\nmp1: tank:subvol-950-disk-1,mp=/old,size=8G\nnet1: name=eth1,bridge=vmbr1,hwaddr=BC:24:11:00:00:01,type=veth\nonboot: 1\n",
    );
    live.config = live.config.replace(
        "unprivileged: 1\n",
        "unprivileged: 1\nlxc.apparmor.profile: unconfined\nlxc.cap.drop: \n",
    );
    let o = observe(&defs, 950, &live);
    assert_eq!(
        differing(&o),
        ["net1", "mp1", "lxc.mount.auto", "lxc.cap.drop"],
        "{:#?}",
        o.settings
    );
    assert_eq!(setting(&o, "mp0").field, "mount_points");
    assert_eq!(setting(&o, "mp1").field, "volumes");
    assert_eq!(setting(&o, "mp1").want, None);
    assert_eq!(setting(&o, "lxc.mount.auto").live, None);
    assert_eq!(
        setting(&o, "lxc.mount.auto").want.as_deref(),
        Some("sys:rw")
    );
    assert!(setting(&o, "lxc.apparmor.profile").matches());
}

#[test]
fn a_vm_compares_its_settings_and_its_template_flag() {
    let vms = json!([
        { "vmid": 9000, "name": "tmpl", "is_template": true, "template_image": "d.qcow2",
          "network_config": { "ip": "dhcp" } },
        { "vmid": 1001, "name": "worker", "clone_from_vmid": 9000, "cores": 2, "memory_mb": 2048,
          "network_config": { "ip": "10.0.3.111/24", "gw": "10.0.3.1", "nameserver": "10.0.3.1" },
          "firewall": { "enabled": true } }
    ]);
    let defs = defs_of(&json!({}), &vms);
    let live = Live {
        config: "agent: 1\ncores: 2\nipconfig0: gw=10.0.3.1,ip=10.0.3.111/24\nmemory: 2048\nname: worker\nnameserver: 10.0.3.1\nnet0: virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1\nscsi0: local-lvm:vm-1001-disk-0,size=2252M\n".into(),
        firewall_options: r#"{"enable":1}"#.into(),
        firewall_rules: "[]".into(),
        ..Live::default()
    };
    let o = observe(&defs, 1001, &live);
    assert!(differing(&o).is_empty(), "{:#?}", o.settings);
    assert_eq!(setting(&o, "net0").field, "firewall");
    let shape: Vec<&str> = o.shape.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(shape, ["template"]);
    let off = Live {
        config: live.config.replace(",firewall=1", ""),
        ..live.clone()
    };
    let o = observe(&defs, 1001, &off);
    assert_eq!(differing(&o), ["net0"]);
    assert!(setting(&o, "net0").want_text().contains("firewall=1"));
    // Not converted although defined so: a shape mismatch.
    let o = observe(
        &defs,
        9000,
        &Live {
            config: "name: tmpl\n".into(),
            ..live
        },
    );
    assert_eq!(o.shape_mismatches().count(), 1);
}

#[test]
fn the_os_comes_from_the_template_name_and_the_base_from_the_volume_name() {
    for (file, os) in [
        (
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            Some("debian"),
        ),
        (
            "/tpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
            Some("ubuntu"),
        ),
        (
            "local:vztmpl/rockylinux-9-default_20240912_amd64.tar.xz",
            Some("centos"),
        ),
        ("archlinux-base_20240911-1_amd64.tar.zst", Some("archlinux")),
        ("local:vztmpl/custom.tar.gz", None),
    ] {
        assert_eq!(ostype_of(file), os, "{file}");
    }
    assert_eq!(
        linked_base("tank:basevol-900-disk-0/subvol-950-disk-0"),
        Some(900)
    );
    assert_eq!(linked_base("ceph:base-900-disk-0/vm-950-disk-0"), Some(900));
    assert_eq!(
        linked_base("local:900/base-900-disk-0.raw/950/vm-950-disk-0.qcow2"),
        Some(900)
    );
    assert_eq!(
        linked_base("tank:basevol-900-disk-0"),
        None,
        "a base itself"
    );
    assert_eq!(
        linked_base("local-lvm:vm-950-disk-0"),
        None,
        "LVM-thin shows none"
    );
}
