//! The lxc backend's own files, without running a container: config lines,
//! root filesystem paths, liblxc's clone records and the template marker.

use std::path::Path;
use std::time::Duration;

use super::Lxc;
use crate::backend::{Backend, GuestCtx, Log};
use crate::defs::Definitions;
use crate::graph::NodeId;

/// Definitions with one container, 950, whose `network_config` and
/// `secondary_network_config` are `net0` and `net1`.
fn defs(dir: &Path, net0: &serde_json::Value, net1: &serde_json::Value) -> Definitions {
    let ct = serde_json::json!({
        "name": "svc", "template": "local:vztmpl/busybox.tar.zst",
        "memory_mb": 256, "cores": 1, "storage_pool": "local-lvm", "storage_size_gb": 1,
        "unprivileged": false, "mac_address": "52:54:00:00:19:50", "start_at_boot": true,
        "network_config": net0, "secondary_network_config": net1
    });
    one_container(dir, &ct)
}

/// Definitions in `dir` with one container, 950, defined as `ct`.
pub(super) fn one_container(dir: &Path, ct: &serde_json::Value) -> Definitions {
    let write = |name: &str, v: serde_json::Value| {
        std::fs::write(dir.join(name), serde_json::to_string(&v).unwrap()).unwrap();
    };
    write(
        "phoenix_hypervisor_config.json",
        serde_json::json!({"version": "1.0.0"}),
    );
    write(
        "phoenix_lxc_configs.json",
        serde_json::json!({"lxc_configs": {"950": ct}}),
    );
    write("phoenix_vm_configs.json", serde_json::json!({"vms": []}));
    crate::defs::load(dir).0
}

/// Container 950 of `defs`, as an operation gets it.
pub(super) fn ctx(defs: &Definitions) -> GuestCtx<'_> {
    GuestCtx {
        node: NodeId::Ct(950),
        guest: defs.guest(950).unwrap(),
        defs,
        source: None,
        timeout: Duration::from_secs(5),
    }
}

fn value<'a>(settings: &'a [(String, String)], key: &str) -> Option<&'a str> {
    settings
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A container directory as `lxc-create`/`lxc-copy` leave it, with a stamp.
fn container(lxc: &Lxc, name: &str, config: &str) {
    let dir = lxc.dir(name);
    std::fs::create_dir_all(dir.join("rootfs")).unwrap();
    std::fs::write(dir.join("config"), config).unwrap();
    lxc.write_stamp(name, "built:k").unwrap();
}

#[test]
fn the_second_interface_is_lxc_net_1_with_its_own_hwaddr() {
    let tmp = tempfile::tempdir().unwrap();
    let defs = defs(
        tmp.path(),
        &serde_json::json!({"name": "eth0", "bridge": "lxcbr0", "ip": "dhcp", "hwaddr": "02:00:00:00:01:01"}),
        &serde_json::json!({"name": "eth1", "bridge": "vmbr100", "ip": "172.16.100.10/24",
                            "gw": "172.16.100.1", "hwaddr": "02:00:00:00:01:02"}),
    );
    let lxc = Lxc::new(&tmp.path().join("lxc"), "phx-");
    let s = lxc.settings(&ctx(&defs));
    assert_eq!(value(&s, "lxc.net.0.hwaddr"), Some("02:00:00:00:01:01"));
    assert_eq!(value(&s, "lxc.net.1.type"), Some("veth"));
    assert_eq!(value(&s, "lxc.net.1.link"), Some("vmbr100"));
    assert_eq!(value(&s, "lxc.net.1.flags"), Some("up"));
    assert_eq!(value(&s, "lxc.net.1.name"), Some("eth1"));
    assert_eq!(value(&s, "lxc.net.1.hwaddr"), Some("02:00:00:00:01:02"));
    assert_eq!(
        value(&s, "lxc.net.1.ipv4.address"),
        Some("172.16.100.10/24")
    );
    // net0 takes DHCP: net1's gateway is the default route.
    assert_eq!(value(&s, "lxc.net.1.ipv4.gateway"), Some("172.16.100.1"));
}

#[test]
fn net1_gets_no_gateway_where_net0_has_one() {
    let tmp = tempfile::tempdir().unwrap();
    let defs = defs(
        tmp.path(),
        &serde_json::json!({"bridge": "lxcbr0", "ip": "10.0.3.50/24", "gw": "10.0.3.1"}),
        &serde_json::json!({"bridge": "lxcbr0", "ip": "172.16.1.5/24", "gw": "172.16.1.1"}),
    );
    let lxc = Lxc::new(&tmp.path().join("lxc"), "phx-");
    let s = lxc.settings(&ctx(&defs));
    assert_eq!(value(&s, "lxc.net.0.ipv4.gateway"), Some("10.0.3.1"));
    assert_eq!(value(&s, "lxc.net.1.ipv4.gateway"), None);
    assert_eq!(value(&s, "lxc.net.1.name"), Some("eth1"), "eth1 by default");
    // Without a hwaddr of its own, net1 gets none (LXC makes one up), never net0's.
    assert_eq!(value(&s, "lxc.net.1.hwaddr"), None);
}

#[test]
fn a_snapshot_clone_is_written_through_its_overlay_upper_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let lxcpath = tmp.path().join("lxc");
    let lxc = Lxc::new(&lxcpath, "phx-");
    let upper = lxcpath.join("phx-950/overlay/delta");
    container(
        &lxc,
        "phx-950",
        &format!(
            "lxc.net.0.type = veth\nlxc.rootfs.path = overlay:{}:{}\n",
            lxcpath.join("phx-901/rootfs").display(),
            upper.display()
        ),
    );
    assert_eq!(lxc.rootfs_dir("phx-950"), upper);
    container(
        &lxc,
        "phx-900",
        &format!(
            "lxc.rootfs.path = dir:{}\n",
            lxcpath.join("phx-900/rootfs").display()
        ),
    );
    assert_eq!(lxc.rootfs_dir("phx-900"), lxcpath.join("phx-900/rootfs"));
}

#[test]
fn set_keys_changes_those_keys_and_keeps_every_other_line() {
    let tmp = tempfile::tempdir().unwrap();
    let lxc = Lxc::new(&tmp.path().join("lxc"), "phx-");
    container(
        &lxc,
        "phx-900",
        "# comment\nlxc.net.0.hwaddr = 52:54:00:00:19:00\nlxc.start.auto = 1\nlxc.uts.name = base\n",
    );
    lxc.set_keys("phx-900", &[("lxc.start.auto", "0")]).unwrap();
    let text = std::fs::read_to_string(lxc.dir("phx-900").join("config")).unwrap();
    assert_eq!(
        text,
        "# comment\nlxc.net.0.hwaddr = 52:54:00:00:19:00\nlxc.uts.name = base\nlxc.start.auto = 0\n"
    );
}

#[test]
fn a_template_with_snapshot_clones_is_not_destroyed_and_the_error_names_them() {
    let tmp = tempfile::tempdir().unwrap();
    let lxcpath = tmp.path().join("lxc");
    let lxc = Lxc::new(&lxcpath, "phx-");
    container(&lxc, "phx-900", "lxc.uts.name = base\n");
    // As liblxc's mod_rdep appends them: `<lxcpath>\n<name>\n` per clone.
    let p = lxcpath.display();
    std::fs::write(
        lxc.dir("phx-900").join("lxc_snapshots"),
        format!("{p}\nphx-901\n{p}\nphx-950\n/elsewhere\nother\n"),
    )
    .unwrap();
    assert_eq!(
        lxc.linked_clones("phx-900"),
        ["/elsewhere/other", "ct:901 (phx-901)", "ct:950 (phx-950)"]
    );
    let err = lxc.refuse_linked("phx-900").unwrap_err().message;
    assert!(
        err.contains("ct:901 (phx-901), ct:950 (phx-950)") && err.contains("has clones"),
        "{err}"
    );
    // The old format: a count.
    std::fs::write(lxc.dir("phx-900").join("lxc_snapshots"), "2\n").unwrap();
    assert_eq!(lxc.linked_clones("phx-900").len(), 2);
    // No file, no clones.
    std::fs::remove_file(lxc.dir("phx-900").join("lxc_snapshots")).unwrap();
    assert!(lxc.refuse_linked("phx-900").is_ok());
}

#[test]
fn a_template_refuses_start_snapshot_rollback_and_exec_but_takes_its_stamp() {
    let tmp = tempfile::tempdir().unwrap();
    let defs = defs(
        tmp.path(),
        &serde_json::json!({"bridge": "lxcbr0", "ip": "10.0.3.50/24"}),
        &serde_json::json!({"bridge": "lxcbr0"}),
    );
    let lxc = Lxc::new(&tmp.path().join("lxc"), "phx-");
    container(&lxc, "phx-950", "lxc.start.auto = 1\n");
    std::fs::write(
        lxc.dir("phx-950").join(super::client::TEMPLATE_FILE),
        "template\n",
    )
    .unwrap();
    let g = ctx(&defs);
    let mut log = Log::sink();
    let err = lxc.start(&g, &mut log).unwrap_err().message;
    assert!(
        err.contains("you can't start a CT if it's a template"),
        "{err}"
    );
    let err = lxc.snapshot(&g, "pre-x", &mut log).unwrap_err().message;
    assert!(
        err.contains("you can't take a snapshot if it's a template"),
        "{err}"
    );
    let err = lxc.rollback(&g, "pre-x", &mut log).unwrap_err().message;
    assert!(
        err.contains("you can't rollback if vm is a template"),
        "{err}"
    );
    let script = crate::backend::Script {
        name: "apps/svc.sh".into(),
        path: tmp.path().join("svc.sh"),
        args: Vec::new(),
        env: Vec::new(),
        files: Vec::new(),
        inputs: Vec::new(),
    };
    let err = lxc.exec(&g, &script, &mut log).unwrap_err().message;
    assert!(
        err.contains("ct:950 (phx-950) is a converted template"),
        "{err}"
    );
    // The worker stamps a template after converting it.
    lxc.stamp(&g, "built:abc", &mut log).unwrap();
    assert_eq!(lxc.stamp_text("phx-950").unwrap(), "built:abc\n");
    // And its settings never start it at boot.
    assert_eq!(
        value(&lxc.settings(&g), "lxc.start.auto"),
        Some("0"),
        "a template never starts at boot"
    );
}
