//! The built-in host storage steps (ZFS, NFS) on the stand-in host.

use serde_json::Value;

use super::host;

/// The built-in ZFS and NFS steps: a disk holding data stops the step unless
/// `--wipe-disks` is given, and only storages phoenix created are ever removed.
#[test]
fn host_storage_steps_never_erase_or_remove_what_they_do_not_own() {
    let Some(h) = host() else { return };
    let hv = h.defs.join("phoenix_hypervisor_config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&hv).unwrap()).unwrap();
    config["zfs"] = serde_json::json!({
        "arc_max_gb": 1,
        "pools": [{"name": "tank", "raid_level": "mirror", "disks": ["/dev/fake-a", "/dev/fake-b"]}],
        "datasets": [
            {"name": "guests", "pool": "tank", "properties": "recordsize=16K,quota=10G",
             "proxmox_storage_type": "zfspool", "proxmox_content_type": "images,rootdir"},
            {"name": "iso", "pool": "tank", "properties": "recordsize=1M",
             "proxmox_storage_type": "dir", "proxmox_content_type": "iso,vztmpl"}
        ]
    });
    config["nfs"] = serde_json::json!({"exports": [
        {"path": "/tank/shared", "clients": ["10.0.3.0/24"], "options": ["rw", "sync", "no_subtree_check"]}
    ]});
    std::fs::write(&hv, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    // The host: one blank disk, one with a filesystem on it, a storage of its own,
    // and an /etc/exports line of its own.
    std::fs::write(
        h.pve.state.join("state.json"),
        r#"{"guests": {}, "disks": {"/dev/fake-a": [], "/dev/fake-b": ["ext4"]},
            "storages": {"local": {"type": "dir", "path": "/var/lib/vz"}, "backup-nas": {"type": "nfs"}}}"#,
    )
    .unwrap();
    std::fs::create_dir_all(h.pve.root().join("etc")).unwrap();
    std::fs::create_dir_all(h.pve.root().join("srv/theirs")).unwrap();
    let theirs = "/srv/theirs 192.168.1.0/24(ro)\n";
    std::fs::write(h.pve.root().join("etc/exports"), theirs).unwrap();

    // A pool that exists on a disk but is not imported (a reinstalled host) is data:
    // not even --wipe-disks erases it.
    h.pve.set_stand_in_state(
        "importable",
        serde_json::json!({"oldtank": ["/dev/fake-b"]}),
    );
    let out = h.build(&["host:nfs", "--wipe-disks"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("`zpool import oldtank`"),
        "{}",
        out.stdout
    );
    h.pve
        .set_stand_in_state("importable", serde_json::json!({}));

    let out = h.build(&["host:nfs"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let s = out.summary();
    assert_eq!(s["nodes"]["host:zfs"], "failed");
    assert_eq!(s["nodes"]["host:nfs"], "skipped");
    assert!(
        out.stdout.contains("/dev/fake-b holds ext4") && out.stdout.contains("--wipe-disks"),
        "the error names the disk, what it holds and the flag:\n{}",
        out.stdout
    );
    let ran = h.pve.commands();
    assert!(
        !ran.iter()
            .any(|c| c[0] == "zpool" && c[1] == "create" || c[..2] == ["wipefs", "--all"]),
        "nothing was erased or created: {ran:?}"
    );

    let out = h.build(&["host:nfs", "--wipe-disks"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let ran = h.pve.commands();
    let wiped: Vec<&str> = ran
        .iter()
        .filter(|c| c[..2] == ["wipefs", "--all"])
        .map(|c| c[2].as_str())
        .collect();
    assert_eq!(
        wiped,
        ["/dev/fake-b"],
        "only the disk that held data is wiped"
    );
    let st = h.pve.stand_in_state();
    assert_eq!(
        st["pools"]["tank"],
        serde_json::json!(["/dev/fake-a", "/dev/fake-b"])
    );
    assert_eq!(st["datasets"]["tank/guests"]["recordsize"], "16K");
    assert_eq!(st["storages"]["tank-guests"]["pool"], "tank/guests");
    assert_eq!(st["storages"]["tank-iso"]["is_mountpoint"], "yes");
    assert_eq!(st["storages"]["nfs-shared"]["export"], "/tank/shared");
    let exports = std::fs::read_to_string(h.pve.root().join("etc/exports")).unwrap();
    assert!(
        exports.starts_with(theirs)
            && exports.contains("/tank/shared 10.0.3.0/24(rw,sync,no_subtree_check)\n"),
        "{exports}"
    );
    assert!(h.pve.root().join("tank/shared").is_dir());
    let ledger =
        std::fs::read_to_string(h.pve.root().join("var/lib/phoenix/owned-storages")).unwrap();
    for owned in ["zfs tank-guests", "zfs tank-iso", "nfs nfs-shared"] {
        assert!(ledger.contains(owned), "{ledger}");
    }
    assert!(
        std::fs::read_to_string(h.pve.root().join("etc/modprobe.d/zz-phoenix-zfs-arc.conf"))
            .unwrap()
            .contains("zfs_arc_max=1073741824")
    );

    // Nothing changed: nothing runs.
    let before = h.pve.commands().len();
    let out = h.build(&["host:nfs", "--wipe-disks"]);
    assert_eq!(out.summary()["steps_run"], 0);
    assert_eq!(
        h.pve.commands().len(),
        before + 1,
        "only the inventory call"
    );

    // A dataset goes away: its storage, which phoenix created, goes once no guest
    // disk is on it; the host's own storages and the NFS step's storage stay.
    config["zfs"]["datasets"].as_array_mut().unwrap().pop();
    std::fs::write(&hv, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    h.pve.set_stand_in_state(
        "volumes",
        serde_json::json!({"tank-iso": ["tank-iso:iso/debian.iso"]}),
    );
    let out = h.build(&["host:nfs"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("still holds tank-iso:iso/debian.iso"),
        "{}",
        out.stdout
    );
    assert!(h.pve.stand_in_state()["storages"]["tank-iso"].is_object());
    h.pve.set_stand_in_state("volumes", serde_json::json!({}));
    let out = h.build(&["host:nfs"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let s = out.summary();
    assert_eq!(s["nodes"]["host:zfs"], "updated");
    assert_eq!(s["nodes"]["host:nfs"], "fresh");
    let st = h.pve.stand_in_state();
    let ids: Vec<&String> = st["storages"].as_object().unwrap().keys().collect();
    assert_eq!(ids, ["backup-nas", "local", "nfs-shared", "tank-guests"]);
    let ran = h.pve.commands();
    assert!(
        !ran[before..]
            .iter()
            .any(|c| c[0] == "zpool" && c[1] == "create"),
        "the existing pool is left alone"
    );
    h.pve.assert_no_violations();
}
