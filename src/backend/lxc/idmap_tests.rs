//! Id maps, re-owning, bind mounts and resources on plain LXC, from the files
//! alone (re-owning needs root: it is skipped, saying so, without).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use serde_json::json;

use super::super::Lxc;
use super::super::client::liblxc_errors;
use super::super::mounts::fstab_line;
use super::super::tests::{ctx, one_container};
use super::{config_map, describe, idmap_values, same_map, shift_tree};
use crate::backend::Log;
use crate::defs::{BindMount, Definitions, IdMap};

/// Definitions with one container, 950, with `extra` fields.
fn defs(dir: &Path, extra: &serde_json::Value) -> Definitions {
    let mut ct = json!({
        "name": "svc", "template": "local:vztmpl/busybox.tar.zst",
        "memory_mb": 256, "cores": 2, "storage_pool": "local-lvm", "storage_size_gb": 1,
        "network_config": {"bridge": "phxtest0", "ip": "10.250.0.50/24", "gw": "10.250.0.1"}
    });
    for (k, v) in extra.as_object().unwrap() {
        ct[k] = v.clone();
    }
    one_container(dir, &ct)
}

fn values<'a>(settings: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    settings
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn an_unprivileged_container_gets_proxmoxs_map_and_a_privileged_one_none() {
    let tmp = tempfile::tempdir().unwrap();
    let lxc = Lxc::new(&tmp.path().join("lxc"), "phx-");
    let d = defs(tmp.path(), &json!({"unprivileged": true}));
    assert_eq!(
        values(&lxc.settings(&ctx(&d)), "lxc.idmap"),
        ["u 0 100000 65536", "g 0 100000 65536"]
    );
    let d = defs(tmp.path(), &json!({"unprivileged": false}));
    assert!(values(&lxc.settings(&ctx(&d)), "lxc.idmap").is_empty());
    let d = defs(tmp.path(), &json!({}));
    assert!(
        values(&lxc.settings(&ctx(&d)), "lxc.idmap").is_empty(),
        "absent means privileged"
    );
}

#[test]
fn id_maps_entries_are_written_with_the_default_around_them() {
    let tmp = tempfile::tempdir().unwrap();
    let lxc = Lxc::new(&tmp.path().join("lxc"), "phx-");
    let d = defs(
        tmp.path(),
        &json!({"unprivileged": true,
                "id_maps": [{"type": "gid", "container_id": 33, "host_id": 33, "size": 1}]}),
    );
    assert_eq!(
        values(&lxc.settings(&ctx(&d)), "lxc.idmap"),
        [
            "u 0 100000 65536",
            "g 0 100000 33",
            "g 33 33 1",
            "g 34 100034 65502"
        ]
    );
}

#[test]
fn a_configs_map_is_read_back_whatever_its_order() {
    let config = "lxc.uts.name = a\nlxc.idmap = g 0 100000 65536\n# lxc.idmap = u 0 0 1\nlxc.idmap = u 0 100000 65536\n";
    let map = config_map(config);
    assert_eq!(idmap_values(&map), ["g 0 100000 65536", "u 0 100000 65536"]);
    let default = IdMap::effective(true, &[], &[]);
    assert!(same_map(&map, &default));
    assert!(!same_map(&config_map("lxc.uts.name = a\n"), &default));
    assert!(same_map(&config_map(""), &IdMap::none()));
    assert_eq!(describe(&IdMap::none()), "none (privileged)");
}

/// Whether the test runs as root (re-owning files needs it).
fn root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[test]
fn a_tree_is_re_owned_from_one_map_to_the_other_each_inode_once() {
    if !root() {
        eprintln!("SKIPPED: re-owning files needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = tmp.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::write(rootfs.join("bin/busybox"), "x").unwrap();
    std::fs::hard_link(rootfs.join("bin/busybox"), rootfs.join("init")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    std::fs::write(rootfs.join("bin/passwd"), "x").unwrap();
    std::fs::set_permissions(
        rootfs.join("bin/passwd"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    std::fs::write(rootfs.join("www"), "x").unwrap();
    std::os::unix::fs::chown(rootfs.join("www"), Some(33), Some(33)).unwrap();
    // A file no container id owns (host 70000 in a privileged tree maps to
    // container 70000, which the default map does not hold) keeps its owner.
    std::fs::write(rootfs.join("odd"), "x").unwrap();
    std::os::unix::fs::chown(rootfs.join("odd"), Some(70_000), Some(70_000)).unwrap();

    let unprivileged = IdMap::effective(true, &[], &[]);
    let n = shift_tree(&rootfs, &IdMap::none(), &unprivileged).unwrap();
    let owner = |rel: &str| {
        let m = std::fs::symlink_metadata(rootfs.join(rel)).unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(owner(""), (100_000, 100_000));
    assert_eq!(
        owner("bin/busybox"),
        (100_000, 100_000),
        "a hard link is re-owned once"
    );
    assert_eq!(owner("bin/sh"), (100_000, 100_000), "the link itself");
    assert_eq!(owner("www"), (100_033, 100_033));
    assert_eq!(owner("odd"), (70_000, 70_000));
    assert_eq!(n, 6, "rootfs, bin, busybox (once), sh, passwd, www");
    let mode = std::fs::metadata(rootfs.join("bin/passwd")).unwrap().mode();
    assert_eq!(mode & 0o7777, 0o4755, "setuid survives the chown");

    // And back: the same files, owned as before.
    shift_tree(&rootfs, &unprivileged, &IdMap::none()).unwrap();
    assert_eq!(owner("bin/busybox"), (0, 0));
    assert_eq!(owner("www"), (33, 33));
}

#[test]
fn an_overlay_clone_is_not_re_owned_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let lxcpath = tmp.path().join("lxc");
    let lxc = Lxc::new(&lxcpath, "phx-");
    let dir = lxc.dir("phx-950");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config"),
        format!(
            "lxc.rootfs.path = overlay:{0}/phx-901/rootfs:{0}/phx-950/overlay/delta\n",
            lxcpath.display()
        ),
    )
    .unwrap();
    lxc.write_stamp("phx-950", "built:k").unwrap();
    let err = lxc
        .adopt_map(
            "phx-950",
            &IdMap::effective(true, &[], &[]),
            &mut Log::sink(),
        )
        .unwrap_err()
        .message;
    assert!(
        err.contains("from none (privileged) to u 0 100000 65536")
            && err.contains("its template (an overlay)")
            && err.contains("--allow-replace"),
        "{err}"
    );
    // The same map: nothing to do.
    assert!(
        !lxc.adopt_map("phx-950", &IdMap::none(), &mut Log::sink())
            .unwrap()
    );
}

#[test]
fn bind_mounts_are_an_fstab_file_the_config_names() {
    let b = BindMount {
        host_path: "/srv/my data".into(),
        container_path: "/mnt/data".into(),
        owner_uid: None,
        owner_gid: None,
    };
    assert_eq!(
        fstab_line(&b),
        "/srv/my\\040data mnt/data none bind,create=dir 0 0\n"
    );
    let tmp = tempfile::tempdir().unwrap();
    let lxc = Lxc::new(&tmp.path().join("lxc"), "phx-");
    let d = defs(
        tmp.path(),
        &json!({"mount_points": [{"host_path": "/srv/data", "container_path": "/mnt/data"}]}),
    );
    assert_eq!(
        values(&lxc.settings(&ctx(&d)), "lxc.mount.fstab"),
        [lxc.dir("phx-950")
            .join("phoenix-fstab")
            .display()
            .to_string()]
    );
    let d = defs(tmp.path(), &json!({}));
    assert!(values(&lxc.settings(&ctx(&d)), "lxc.mount.fstab").is_empty());
}

#[test]
fn memory_swap_and_cores_are_cgroup_limits_of_either_version() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lxc = Lxc::new(&tmp.path().join("lxc"), "phx-");
    let d = defs(tmp.path(), &json!({"swap_mb": 128}));
    lxc.cgroup2 = true;
    let s = lxc.settings(&ctx(&d));
    assert_eq!(values(&s, "lxc.cgroup2.memory.max"), ["256M"]);
    assert_eq!(values(&s, "lxc.cgroup2.memory.swap.max"), ["128M"]);
    assert_eq!(values(&s, "lxc.cgroup2.cpu.max"), ["200000 100000"]);
    assert!(values(&s, "lxc.cgroup.memory.limit_in_bytes").is_empty());

    lxc.cgroup2 = false;
    lxc.memsw = true;
    let s = lxc.settings(&ctx(&d));
    assert_eq!(
        values(&s, "lxc.cgroup.memory.limit_in_bytes"),
        [(256u64 << 20).to_string()]
    );
    assert_eq!(
        values(&s, "lxc.cgroup.memory.memsw.limit_in_bytes"),
        [(384u64 << 20).to_string()],
        "v1 limits memory plus swap"
    );
    assert_eq!(values(&s, "lxc.cgroup.cpu.cfs_quota_us"), ["200000"]);
    assert_eq!(values(&s, "lxc.cgroup.cpu.cfs_period_us"), ["100000"]);
    assert!(values(&s, "lxc.cgroup2.memory.max").is_empty());

    lxc.memsw = false;
    let s = lxc.settings(&ctx(&d));
    assert!(
        values(&s, "lxc.cgroup.memory.memsw.limit_in_bytes").is_empty(),
        "no swap accounting, no swap limit"
    );
}

#[test]
fn liblxc_says_why_a_container_did_not_start() {
    let log = "lxc-start u1 20261201113350.773 ERROR    start - ../src/lxc/start.c:print_top_failing_dir:99 - Permission denied - Could not access /tmp/ut7. Please grant it x access, or add an ACL for the container root
lxc-start u1 20261201113350.773 ERROR    sync - ../src/lxc/sync.c:sync_wait:34 - An error occurred in another process (expected sequence number 1)
lxc-start u1 20261201113350.774 ERROR    lxccontainer - ../src/lxc/lxccontainer.c:wait_on_daemonized_start:878 - Received container state \"ABORTING\" instead of \"RUNNING\"
lxc-start u1 20261201113350.774 ERROR    lxc_start - ../src/lxc/tools/lxc_start.c:main:306 - The container failed to start
";
    assert_eq!(
        liblxc_errors(log),
        "Permission denied - Could not access /tmp/ut7. Please grant it x access, or add an ACL for the container root"
    );
    assert_eq!(liblxc_errors(""), "");
}
