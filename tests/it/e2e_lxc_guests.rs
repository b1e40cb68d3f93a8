//! End to end on real LXC containers: guests that mean what their definitions
//! say. Unprivileged where `unprivileged` is true (Proxmox's map, root is host
//! uid 100000, or the map `id_maps` makes), privileged where it is false, also
//! for clones of one snapshot copy with another map; bind mounts owned as the map
//! says; a snapshot template stopped once its snapshot is taken; memory, swap and
//! cores enforced as cgroup limits, read from the host's cgroup files; lifecycle
//! snapshots of a running container taken frozen, as Proxmox takes them: what
//! runs in it keeps running.
//!
//! On the tests' network, under an LXC path and prefix (`phxu-`) of its own,
//! skipping (or failing in CI) as `e2e_lxc` does.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::json;

use crate::helpers::Site;
use crate::helpers::lxc::{BRIDGE, GATEWAY, LxcSite, addr, limits};

/// 960, an unprivileged snapshot template (busybox with a `mark` layer); 961, its
/// clone with a map of its own (container uid and gid 1000 are host 200000) and a
/// bind mount owned by 1000, with limits; 962, its privileged clone, with
/// lifecycle snapshots around two features: `keep` leaves a process running,
/// `still` writes down whether it still runs after the snapshot between them.
fn write_defs(defs: &Path, share: &Path) {
    let ct = |name: &str, last: u8, extra: serde_json::Value| {
        let mut v = json!({
            "name": name, "memory_mb": 256, "cores": 1, "storage_pool": "local-lvm",
            "storage_size_gb": 1, "unprivileged": true, "start_at_boot": false,
            "network_config": { "name": "eth0", "bridge": BRIDGE,
                                "ip": format!("{}/24", addr(last)), "gw": GATEWAY },
            "mac_address": format!("52:54:00:fb:09:{last:02x}")
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let lxc = json!({ "lxc_configs": {
        "960": ct("tpl-u", 160, json!({
            "template": "local:vztmpl/busybox.tar.zst",
            "template_snapshot_name": "ready", "features": ["mark"] })),
        "961": ct("guest-u", 161, json!({
            "clone_from_ctid": "960", "application_script": "write.sh",
            "memory_mb": 192, "swap_mb": 64, "cores": 1,
            "id_maps": [
                { "type": "uid", "container_id": 1000, "host_id": 200_000, "size": 1 },
                { "type": "gid", "container_id": 1000, "host_id": 200_000, "size": 1 }
            ],
            "mount_points": [{ "host_path": share.display().to_string(),
                               "container_path": "/mnt/share",
                               "owner_uid": 1000, "owner_gid": 1000 }] })),
        "962": ct("guest-p", 162, json!({
            "clone_from_ctid": "960", "application_script": "write.sh",
            "unprivileged": false, "enable_lifecycle_snapshots": true,
            "features": ["keep", "still"] })),
    }});
    let write = |rel: &str, text: &str| {
        let p = defs.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "phoenix_hypervisor_config.json",
        r#"{ "version": "1.0.0", "domain_name": "phoenix.test", "timezone": "UTC" }"#,
    );
    write("phoenix_lxc_configs.json", &lxc.to_string());
    write("phoenix_vm_configs.json", r#"{ "vms": [] }"#);
    write(
        "features/host/network.sh",
        &format!("#!/bin/sh\necho network: the test bridge {BRIDGE} is there already\n"),
    );
    write(
        "features/lxc/mark.sh",
        "#!/bin/sh\nset -eu\nmkdir -p /opt/mark\necho v1 > /opt/mark/version\n",
    );
    write(
        "features/lxc/keep.sh",
        "#!/bin/sh\nset -eu\nsleep 100000 </dev/null >/dev/null 2>&1 &\necho $! > /root/keep.pid\n",
    );
    write(
        "features/lxc/still.sh",
        "#!/bin/sh\nset -eu\nif kill -0 \"$(cat /root/keep.pid)\" 2>/dev/null; \
         then echo running > /root/kept; else echo gone > /root/kept; fi\n",
    );
    write(
        "apps/write.sh",
        "#!/bin/sh\nset -eu\ntouch /root/made-inside\n\
         if [ -d /mnt/share ]; then echo hi > /mnt/share/from-guest; chown 1000:1000 /mnt/share/from-guest; fi\n",
    );
}

fn owner(path: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.uid(), m.gid())
}

fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

#[test]
fn guests_are_unprivileged_privileged_mounted_and_limited_as_defined() {
    let mut share = std::path::PathBuf::new();
    let Some(site) = LxcSite::new("phxu-", None, || {
        let site = Site::empty();
        share = site.path().join("share");
        write_defs(&site.defs, &share);
        site
    }) else {
        return;
    };
    let out = site.build(&["all"]).success();
    for n in ["ct:960", "ct:961", "ct:962"] {
        assert_eq!(out.summary()["nodes"][n], "built", "{n}: {}", out.stdout);
    }

    // The template stopped with its snapshot; the clones are copies of the snapshot.
    let state = site.state("phxu-960");
    assert!(state.contains("STOPPED"), "{state}");
    assert!(site.containers().contains(&"phxu-960--ready".to_string()));
    // Its files (made by lxc-create in the user namespace) and its snapshot's
    // belong to host uid 100000.
    for name in ["phxu-960", "phxu-960--ready"] {
        let rootfs = site.lxcpath.join(name).join("rootfs");
        assert_eq!(
            owner(&rootfs.join("bin/busybox")),
            (100_000, 100_000),
            "{name}"
        );
        assert_eq!(
            owner(&rootfs.join("opt/mark/version")),
            (100_000, 100_000),
            "{name}"
        );
    }

    // 961: its own map, seen from inside, and its files re-owned to it.
    let uid_map = site.attach("phxu-961", &["cat", "/proc/self/uid_map"]);
    assert_eq!(
        words(&uid_map),
        [
            "0", "100000", "1000", "1000", "200000", "1", "1001", "101001", "64535"
        ],
        "{uid_map}"
    );
    let rootfs = site.lxcpath.join("phxu-961/rootfs");
    assert_eq!(owner(&rootfs.join("root/made-inside")), (100_000, 100_000));
    assert_eq!(owner(&rootfs.join("opt/mark/version")), (100_000, 100_000));
    // The bind mount's host directory was made for container uid and gid 1000
    // (host 200000 by the map); what the guest writes there is seen so on the host.
    assert_eq!(owner(&share), (200_000, 200_000));
    assert_eq!(owner(&share.join("from-guest")), (200_000, 200_000));
    assert_eq!(
        std::fs::read_to_string(share.join("from-guest")).unwrap(),
        "hi\n"
    );
    let inside = site.attach("phxu-961", &["stat", "-c", "%u:%g", "/mnt/share"]);
    assert_eq!(inside.trim(), "1000:1000");

    // 962: privileged as defined, its copy re-owned to the host's ids.
    let uid_map = site.attach("phxu-962", &["cat", "/proc/self/uid_map"]);
    assert_eq!(words(&uid_map), ["0", "0", "4294967295"], "{uid_map}");
    let rootfs = site.lxcpath.join("phxu-962/rootfs");
    assert_eq!(owner(&rootfs.join("root/made-inside")), (0, 0));
    assert_eq!(owner(&rootfs.join("opt/mark/version")), (0, 0));
    // Its snapshot before `still` was taken with `keep`'s process running, and
    // left it running (pve-container `__snapshot_freeze`: frozen, not stopped).
    let kept = site.attach("phxu-962", &["cat", "/root/kept"]);
    assert_eq!(kept.trim(), "running", "{kept}");
    let snap = site.lxcpath.join("phxu-962--pre-still/rootfs/root");
    assert!(snap.join("keep.pid").is_file(), "{}", snap.display());
    assert!(!snap.join("kept").exists(), "{}", snap.display());
    let state = site.state("phxu-962--pre-still");
    assert!(state.contains("STOPPED"), "{state}");

    // Limits, from the host's cgroup files of the running 961.
    let got = limits(&site, "phxu-961");
    assert_eq!(got.memory, (192u64 << 20).to_string(), "{got:?}");
    assert_eq!(got.cpu, "100000 100000", "{got:?}");
    if got.v2 {
        assert_eq!(
            got.swap.as_deref(),
            Some((64u64 << 20).to_string().as_str())
        );
    } else {
        eprintln!("note: a cgroup v1 host: the limits checked are the v1 controllers'");
        if let Some(memsw) = &got.swap {
            assert_eq!(
                memsw,
                &((192u64 + 64) << 20).to_string(),
                "memory plus swap"
            );
        }
    }

    // Nothing changed: nothing runs.
    let out = site.build(&["all"]).success();
    assert_eq!(out.summary()["steps_run"], 0, "{}", out.stdout);
    site.phoenix()
        .args(["destroy", "all", "--yes"])
        .run()
        .success();
    assert!(site.containers().is_empty(), "{:?}", site.containers());
}
