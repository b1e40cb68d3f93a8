//! A container's config beside its definition, from the files alone: every
//! setting matches once `configure` wrote it, and a setting differs exactly where
//! `configure` would change something.

use std::path::Path;

use serde_json::json;

use super::super::Lxc;
use super::super::tests::{ctx, one_container};
use super::compare_keys;
use crate::backend::{Backend, Log, Stamp};
use crate::defs::Definitions;
use crate::live::{Observation, Setting};

#[path = "observe_shape_tests.rs"]
mod shape;

/// The config `lxc-create -t busybox` leaves (the default config's network lines,
/// a generated hwaddr, its own name), with `extra` lines.
pub(super) fn created(lxc: &Lxc, extra: &str) -> String {
    format!(
        "lxc.net.0.type = veth\nlxc.net.0.link = lxcbr0\nlxc.net.0.flags = up\n\
         lxc.net.0.hwaddr = 00:16:3e:12:34:56\nlxc.rootfs.path = dir:{}\n\
         lxc.uts.name = phx-950\nlxc.apparmor.profile = generated\n{extra}",
        lxc.dir("phx-950").join("rootfs").display()
    )
}

/// A privileged container 950 with two interfaces, limits, boot order and a bind
/// mount of `share` (which exists, so nothing is chowned: no root needed).
pub(super) fn defs(dir: &Path, share: &Path) -> Definitions {
    std::fs::create_dir_all(share).unwrap();
    one_container(
        dir,
        &json!({
            "name": "svc", "template": "local:vztmpl/busybox.tar.zst",
            "memory_mb": 256, "swap_mb": 128, "cores": 2, "storage_pool": "local-lvm",
            "storage_size_gb": 1, "unprivileged": false, "start_at_boot": true,
            "boot_order": 3, "boot_delay": 5, "mac_address": "52:54:00:00:19:50",
            "network_config": {"name": "eth0", "bridge": "phxtest0", "ip": "10.250.0.50/24",
                               "gw": "10.250.0.1"},
            "secondary_network_config": {"bridge": "phxtest0", "ip": "dhcp"},
            "mount_points": [{"host_path": share.display().to_string(),
                              "container_path": "/mnt/share"}]
        }),
    )
}

/// An LXC path in `dir` with container 950 as `lxc-create` left it (and a stamp
/// unless `foreign`); the backend as on a cgroup v2 host.
pub(super) fn host(dir: &Path, foreign: bool) -> Lxc {
    let mut lxc = Lxc::new(&dir.join("lxc"), "phx-");
    lxc.cgroup2 = true;
    let d = lxc.dir("phx-950");
    std::fs::create_dir_all(d.join("rootfs/etc/init.d")).unwrap();
    std::fs::write(d.join("rootfs/etc/init.d/rcS"), "#!/bin/sh\nudhcpc\n").unwrap();
    std::fs::write(d.join("config"), created(&lxc, "")).unwrap();
    if !foreign {
        lxc.write_stamp("phx-950", "built:k").unwrap();
    }
    lxc
}

pub(super) fn config(lxc: &Lxc) -> String {
    std::fs::read_to_string(lxc.dir("phx-950").join("config")).unwrap()
}

pub(super) fn differing(o: &Observation) -> Vec<&Setting> {
    o.differing().collect()
}

/// Replace the line of `key` in the config by `line` (`None`: drop it).
pub(super) fn edit(lxc: &Lxc, key: &str, line: Option<&str>) {
    let text: String = config(lxc)
        .lines()
        .filter_map(|l| {
            if l.split('=').next().unwrap().trim() == key {
                line.map(|n| format!("{n}\n"))
            } else {
                Some(format!("{l}\n"))
            }
        })
        .collect();
    std::fs::write(lxc.dir("phx-950").join("config"), text).unwrap();
}

#[test]
fn every_setting_matches_once_configure_wrote_them_and_configure_then_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = defs(tmp.path(), &tmp.path().join("share"));
    let lxc = host(tmp.path(), false);
    let g = ctx(&d);
    let mut log = Log::sink();
    let before = lxc.observe(&g, &mut log).unwrap();
    let names: Vec<&str> = differing(&before).iter().map(|s| s.name.as_str()).collect();
    for name in [
        "lxc.uts.name",
        "lxc.net.0.link",
        "lxc.net.0.hwaddr",
        "lxc.cgroup2.memory.max",
        "lxc.start.auto",
        "fstab /mnt/share",
        "/etc/init.d/rcS",
        "/etc/phoenix-dhcp",
    ] {
        assert!(names.contains(&name), "{name} differs before: {names:?}");
    }
    let hwaddr = before
        .settings
        .iter()
        .find(|s| s.name == "lxc.net.0.hwaddr")
        .unwrap();
    assert_eq!(
        (
            hwaddr.field.as_str(),
            hwaddr.live_text(),
            hwaddr.want_text()
        ),
        ("network_config", "00:16:3e:12:34:56", "52:54:00:00:19:50")
    );
    // A difference is a change configure makes.
    assert!(lxc.rewrite_config("phx-950", &lxc.settings(&g)).unwrap());
    lxc.configure(&g, &mut log).unwrap();
    let after = lxc.observe(&g, &mut log).unwrap();
    assert_eq!(differing(&after), Vec::<&Setting>::new());
    assert_eq!(after.settings.len(), 19, "{:?}", after.settings);
    assert!(
        after.shape_mismatches().next().is_none(),
        "{:?}",
        after.shape
    );
    assert!(!after.template && !after.running && after.snapshots.is_empty());
    // All matching: configure changes nothing.
    assert!(!lxc.rewrite_config("phx-950", &lxc.settings(&g)).unwrap());
    assert!(!lxc.write_mounts(&g, &mut log).unwrap());
    // The fields the plan names.
    let field = |name: &str| {
        after
            .settings
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.field.as_str())
    };
    assert_eq!(field("lxc.cgroup2.memory.max"), Some("memory_mb"));
    assert_eq!(field("lxc.cgroup2.memory.swap.max"), Some("swap_mb"));
    assert_eq!(field("lxc.cgroup2.cpu.max"), Some("cores"));
    assert_eq!(field("lxc.net.1.link"), Some("secondary_network_config"));
    assert_eq!(field("lxc.mount.fstab"), Some("mount_points"));
    assert_eq!(field("lxc.start.order"), Some("boot_order"));
    assert_eq!(field("lxc.start.delay"), Some("boot_delay"));
    assert_eq!(field("lxc.uts.name"), Some("name"));
}

#[test]
fn a_changed_memory_line_is_the_one_difference_with_both_values() {
    let tmp = tempfile::tempdir().unwrap();
    let d = defs(tmp.path(), &tmp.path().join("share"));
    let lxc = host(tmp.path(), false);
    let g = ctx(&d);
    let mut log = Log::sink();
    lxc.configure(&g, &mut log).unwrap();
    edit(
        &lxc,
        "lxc.cgroup2.memory.max",
        Some("lxc.cgroup2.memory.max = 512M"),
    );
    let o = lxc.observe(&g, &mut log).unwrap();
    assert_eq!(
        differing(&o),
        [&Setting::new(
            "memory_mb",
            "lxc.cgroup2.memory.max",
            Some("512M".into()),
            Some("256M".into())
        )]
    );
    assert!(lxc.rewrite_config("phx-950", &lxc.settings(&g)).unwrap());
    assert!(
        lxc.observe(&g, &mut log)
            .unwrap()
            .differing()
            .next()
            .is_none()
    );
}

/// Every line configure writes, changed or dropped, is a difference on its own key
/// and a change to configure; moved elsewhere in the file with its value, neither.
#[test]
fn a_difference_is_exactly_a_change_configure_makes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = defs(tmp.path(), &tmp.path().join("share"));
    let lxc = host(tmp.path(), false);
    let g = ctx(&d);
    let mut log = Log::sink();
    lxc.configure(&g, &mut log).unwrap();
    let written = config(&lxc);
    for (key, value) in lxc.settings(&g) {
        for line in [Some(format!("{key} = x{value}")), None] {
            std::fs::write(lxc.dir("phx-950").join("config"), &written).unwrap();
            edit(&lxc, &key, line.as_deref());
            let o = lxc.observe(&g, &mut log).unwrap();
            let names: Vec<&str> = o.differing().map(|s| s.name.as_str()).collect();
            if key == "lxc.mount.fstab" {
                // Its mounts go with the file that holds them.
                assert_eq!(names, [key.as_str(), "fstab /mnt/share"], "{line:?}");
            } else {
                assert_eq!(names, [key.as_str()], "{line:?}");
            }
            assert!(lxc.rewrite_config("phx-950", &lxc.settings(&g)).unwrap());
        }
    }
    // A line of its own, spelt another way, at the top.
    std::fs::write(lxc.dir("phx-950").join("config"), &written).unwrap();
    edit(&lxc, "lxc.start.order", None);
    let moved = format!("lxc.start.order=3\n{}", config(&lxc));
    std::fs::write(lxc.dir("phx-950").join("config"), moved).unwrap();
    assert!(
        lxc.observe(&g, &mut log)
            .unwrap()
            .differing()
            .next()
            .is_none()
    );
    assert!(!lxc.rewrite_config("phx-950", &lxc.settings(&g)).unwrap());
    assert_eq!(
        config(&lxc),
        written,
        "rewritten in phoenix's order all the same"
    );
}

#[test]
fn an_unmanaged_key_is_left_out_and_a_second_value_of_a_managed_one_differs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = defs(tmp.path(), &tmp.path().join("share"));
    let lxc = host(tmp.path(), false);
    let g = ctx(&d);
    let mut log = Log::sink();
    lxc.configure(&g, &mut log).unwrap();
    let text = config(&lxc) + "lxc.apparmor.profile = unconfined\nlxc.mount.auto = proc\n";
    std::fs::write(lxc.dir("phx-950").join("config"), &text).unwrap();
    let o = lxc.observe(&g, &mut log).unwrap();
    assert!(o.differing().next().is_none(), "{:?}", differing(&o));
    assert!(
        !o.settings
            .iter()
            .any(|s| s.name.starts_with("lxc.apparmor"))
    );
    std::fs::write(
        lxc.dir("phx-950").join("config"),
        text + "lxc.start.auto = 1\n",
    )
    .unwrap();
    let o = lxc.observe(&g, &mut log).unwrap();
    let auto: Vec<(&str, &str)> = o
        .differing()
        .map(|s| (s.live_text(), s.want_text()))
        .collect();
    assert_eq!(auto, [("1, 1", "1")]);
}

#[test]
fn id_map_lines_compare_as_a_set_and_an_extra_one_differs() {
    let want: Vec<(String, String)> = ["u 0 100000 65536", "g 0 100000 65536"]
        .iter()
        .map(|v| ("lxc.idmap".to_string(), (*v).to_string()))
        .collect();
    let same = "lxc.idmap = g 0 100000 65536\nlxc.idmap =  u 0 100000   65536\n";
    let k = compare_keys(same, &want);
    assert_eq!(k.len(), 1);
    assert_eq!(k[0].live, k[0].want, "order and spacing do not count");
    let extra = format!("{same}lxc.idmap = u 65536 300000 1\n");
    let k = compare_keys(&extra, &want);
    assert_eq!(
        k[0].live.as_deref(),
        Some("g 0 100000 65536, u 0 100000 65536, u 65536 300000 1")
    );
    assert_eq!(
        k[0].want.as_deref(),
        Some("g 0 100000 65536, u 0 100000 65536")
    );
    // Privileged by definition, unprivileged on the host: the map goes.
    let k = compare_keys(same, &[]);
    assert_eq!(
        (k[0].key.as_str(), k[0].want.as_deref()),
        ("lxc.idmap", None)
    );
}

#[test]
fn a_container_phoenix_did_not_build_is_observed_then_adopted_by_its_stamp_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let d = defs(tmp.path(), &tmp.path().join("share"));
    let lxc = host(tmp.path(), true);
    let g = ctx(&d);
    let mut log = Log::sink();
    let o = lxc.observe(&g, &mut log).unwrap();
    assert!(o.differing().count() > 3);
    let inv = lxc.inventory();
    if let Ok(inv) = &inv
        && let Some(seen) = inv.get(&g.node)
    {
        assert_eq!(seen.stamp, Stamp::Foreign);
    }
    let before = config(&lxc);
    lxc.adopt(&g, "built:abc", &mut log).unwrap();
    assert_eq!(lxc.stamp_text("phx-950").unwrap(), "built:abc\n");
    assert_eq!(config(&lxc), before, "adoption writes the stamp only");
    assert_eq!(lxc.stamp_of("phx-950"), Stamp::parse("built:abc"));
    // Nothing to adopt where there is no container.
    std::fs::remove_dir_all(lxc.dir("phx-950")).unwrap();
    let err = lxc.observe(&g, &mut log).unwrap_err().message;
    assert!(err.contains("ct:950 (phx-950) does not exist"), "{err}");
    assert!(lxc.adopt(&g, "built:abc", &mut log).is_err());
}

#[test]
fn a_bind_mount_added_to_the_fstab_by_hand_differs_and_configure_takes_it_out() {
    let tmp = tempfile::tempdir().unwrap();
    let d = defs(tmp.path(), &tmp.path().join("share"));
    let lxc = host(tmp.path(), false);
    let g = ctx(&d);
    let mut log = Log::sink();
    lxc.configure(&g, &mut log).unwrap();
    let fstab = lxc.fstab("phx-950");
    let text = std::fs::read_to_string(&fstab).unwrap();
    std::fs::write(&fstab, format!("{text}/srv  /mnt/other none bind 0 0\n")).unwrap();
    let o = lxc.observe(&g, &mut log).unwrap();
    assert_eq!(
        differing(&o),
        [&Setting::new(
            "mount_points",
            "fstab /mnt/other",
            Some("/srv /mnt/other none bind 0 0".into()),
            None
        )]
    );
    assert!(
        lxc.write_mounts(&g, &mut log).unwrap(),
        "configure drops it"
    );
    assert!(
        lxc.observe(&g, &mut log)
            .unwrap()
            .differing()
            .next()
            .is_none()
    );
}

/// A definition without `mac_address` keeps the MAC the container has (one
/// lxc-create generated, or another tool set): no difference, and configure
/// leaves it, so an adopted guest keeps its address.
#[test]
fn a_mac_the_definition_does_not_give_is_kept_as_the_container_has_it() {
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    let d = one_container(
        tmp.path(),
        &json!({
            "name": "svc", "template": "local:vztmpl/busybox.tar.zst", "memory_mb": 256,
            "unprivileged": false,
            "network_config": {"name": "eth0", "bridge": "lxcbr0", "ip": "10.250.0.50/24"}
        }),
    );
    let lxc = host(tmp.path(), true);
    let g = ctx(&d);
    let mut log = Log::sink();
    let before = lxc.observe(&g, &mut log).unwrap();
    let mac = before
        .settings
        .iter()
        .find(|s| s.name == "lxc.net.0.hwaddr")
        .unwrap();
    assert!(mac.matches(), "{mac:?}");
    assert_eq!(mac.live.as_deref(), Some("00:16:3e:12:34:56"));
    lxc.rewrite_config("phx-950", &lxc.settings(&g)).unwrap();
    assert_eq!(
        lxc.config_value("phx-950", "lxc.net.0.hwaddr").as_deref(),
        Some("00:16:3e:12:34:56")
    );
}
