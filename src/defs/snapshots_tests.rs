//! Which containers Proxmox can snapshot, and the warning for templates it cannot.

use serde_json::json;

use super::{layout, load, snapshot_blocker};

#[test]
fn bind_mounts_and_directory_storages_block_snapshots_zfs_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let host = json!({ "zfs": { "datasets": [
        { "pool": "tank", "name": "ct", "proxmox_storage_type": "zfspool" },
        { "pool": "tank", "name": "files", "proxmox_storage_type": "dir" } ] } });
    let ct = |storage: &str, extra: serde_json::Value| {
        let mut v = json!({ "name": "c", "template": "local:vztmpl/x.tar.zst",
                            "storage_pool": storage, "memory_mb": 512 });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let lxc = json!({ "lxc_configs": {
        "200": ct("tank-ct", json!({})),
        "201": ct("tank-ct", json!({ "mount_points": [{ "host_path": "/srv/a", "container_path": "/a" }] })),
        "202": ct("tank-files", json!({})),
        "203": ct("local", json!({})),
        "204": ct("tank-ct", json!({ "zfs_volumes": [{ "pool": "tank-files", "size_gb": 1, "mount_point": "/d" }] })),
        "205": ct("tank-ct", json!({ "template_snapshot_name": "ts",
                  "mount_points": [{ "host_path": "/srv/a", "container_path": "/a" }] })),
        "206": ct("tank-files", json!({ "template_snapshot_name": "us" })),
        "207": { "name": "c7", "clone_from_ctid": "206", "memory_mb": 512 },
    } });
    std::fs::write(dir.path().join(layout::HYPERVISOR_FILE), host.to_string()).unwrap();
    std::fs::write(dir.path().join(layout::LXC_FILE), lxc.to_string()).unwrap();
    let (defs, diags) = load(dir.path());
    let blocker = |id| snapshot_blocker(&defs, defs.guest(id).unwrap());
    assert_eq!(blocker(200), None, "ZFS has snapshots");
    assert!(blocker(201).unwrap().contains("bind mount `/srv/a`"));
    assert!(
        blocker(202)
            .unwrap()
            .contains("`tank-files` is a directory storage")
    );
    assert!(blocker(203).unwrap().contains("`local`"));
    assert!(
        blocker(204).unwrap().contains("`tank-files`"),
        "a volume counts too"
    );
    let warnings: Vec<_> = diags
        .0
        .iter()
        .filter(|d| !d.is_error())
        .map(ToString::to_string)
        .collect();
    // Nothing clones 205: it is built without the snapshot, as a plain container.
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("lxc_configs.205.template_snapshot_name")
                && w.contains("Proxmox cannot take snapshot `ts` of ct:205")
                && w.contains("built as a plain container")),
        "{warnings:#?}"
    );
    assert!(!defs.guest(205).unwrap().template.is_template());
    // 207 clones 206 from a snapshot Proxmox cannot take: an error, naming it.
    let errors: Vec<String> = diags
        .0
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("lxc_configs.206.template_snapshot_name")
                && e.contains("Proxmox cannot take snapshot `us` of ct:206")
                && e.contains("ct:207 clones it")),
        "{errors:#?}"
    );
    assert!(defs.guest(206).unwrap().template.is_template());
    assert!(
        !warnings.iter().any(|w| w.contains("lxc_configs.201.")),
        "no template, no warning: {warnings:#?}"
    );
}
