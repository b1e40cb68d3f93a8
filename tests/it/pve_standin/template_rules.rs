//! The stand-in's rules for converted container templates, each Proxmox's: what
//! may be done to a template once `pct template` made it one (everything phoenix
//! does to it afterwards), where its linked clones can be made, and which
//! containers cannot be converted at all.

use serde_json::json;

use super::rules::pve;

/// After `pct template`: the stamp, a settings-only configure, a disk growth and
/// every probe are accepted (pve-container `PVE::API2::LXC::Config` `update_vm`
/// and `PVE::API2::LXC` `resize_vm` do not look at `template`); a start, a
/// snapshot, a shutdown are not. Its linked clones live under its base volume,
/// can be templates in turn, and go before it.
#[test]
fn a_template_takes_its_stamp_and_settings_and_is_cloned_linked() {
    let Some(p) = pve() else { return };
    p.storages(json!({"tank": {"type": "zfspool"}}));
    p.ct(900, "tank:8");
    p.ok("pct template 900");
    assert!(
        p.config(900)
            .contains("rootfs: tank:basevol-900-disk-0,size=8G"),
        "{}",
        p.config(900)
    );
    p.ok("pct set 900 --tags phoenix;phx-built-ab");
    p.ok("pct set 900 --hostname base --memory 1024 --net0 name=eth0,bridge=vmbr0,hwaddr=52:54:00:00:00:02");
    p.ok("pct resize 900 rootfs 10G");
    for probe in ["status", "config", "pending", "listsnapshot"] {
        p.ok(&format!("pct {probe} 900"));
    }
    p.ok("pvesh get /nodes/pve/lxc/900/firewall/rules --output-format json");
    p.ok("pvesh set /nodes/pve/lxc/900/firewall/options --enable 1");
    p.refused("pct start 900", "you can't start a CT if it's a template");
    p.refused("pct shutdown 900", "CT 900 not running");
    p.refused(
        "pct snapshot 900 ss",
        "you can't take a snapshot if it's a template",
    );
    p.refused(
        "pct template 900",
        "you can't convert a template to a template",
    );

    // Linked by default, on the template's storage only.
    p.ok("pct clone 900 101 --hostname web");
    assert!(
        p.config(101)
            .contains("rootfs: tank:basevol-900-disk-0/subvol-101-disk-0,size=10G"),
        "{}",
        p.config(101)
    );
    p.refused(
        "pct clone 900 102 --hostname ca --storage local-lvm",
        "parameter 'storage' not allowed for linked clones",
    );
    p.ok("pct clone 900 102 --hostname ca --full 1 --storage local-lvm");
    // A linked clone converted in turn, and its own linked clone.
    p.ok("pct template 101");
    p.ok("pct clone 101 801 --hostname emb");
    assert!(
        p.config(801)
            .contains("rootfs: tank:basevol-101-disk-0/subvol-801-disk-0")
    );

    // A volume added to the template afterwards is no base volume: no linked
    // clone of the template can be made any more (pve-storage
    // ZFSPoolPlugin::volume_has_feature, `clone` of a `current` volume).
    p.ok("pct set 900 --mp0 tank:4,mp=/data");
    p.refused(
        "pct clone 900 103 --hostname x",
        "Linked clone feature for 'tank:subvol-900-disk-1' is not available",
    );

    // Deepest first: a template goes once its linked clones have (the full copy
    // 102 holds nothing of it).
    p.refused("pct destroy 900", "is still in use by linked clones");
    p.refused("pct destroy 101", "is still in use by linked clones");
    p.ok("pct destroy 801");
    p.ok("pct destroy 101");
    p.ok("pct destroy 900");
}

/// A directory storage makes templates but no linked clones of a container's
/// volumes (pve-storage `PVE::Storage::Plugin::volume_has_feature`: `clone` only
/// into qcow2, which a container's `clone_vm` does not accept); thick LVM has no
/// `template` feature at all, and a bind mount is not a volume
/// (pve-container `PVE::LXC::template_create`).
#[test]
fn where_a_container_converts_and_where_its_clones_must_be_full() {
    let Some(p) = pve() else { return };
    p.storages(json!({"tank": {"type": "zfspool"}, "thick": {"type": "lvm"}}));
    p.ct(800, "local:8");
    p.ok("pct template 800");
    p.refused(
        "pct clone 800 801 --hostname a",
        "Linked clone feature for 'local:800/base-800-disk-0.raw' is not available",
    );
    p.ok("pct clone 800 801 --hostname a --full 1 --storage tank");
    p.ok("pct clone 800 802 --hostname b --full 1");

    p.ct(700, "thick:8");
    p.refused(
        "pct template 700",
        "Template feature is not available for 'thick:vm-700-disk-0'",
    );
    p.ct(600, "tank:8");
    std::fs::create_dir_all(p.pve.root().join("srv/data")).unwrap();
    p.ok("pct set 600 --mp0 /srv/data,mp=/data");
    p.refused(
        "pct template 600",
        "Template feature is not available for '/srv/data'",
    );
}
