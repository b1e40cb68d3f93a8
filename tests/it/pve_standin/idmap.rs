//! GitHub issue 8: a container's `id_maps` on the stand-in host. The whole map
//! goes into its config (the holes Proxmox's default), the host's `/etc/subgid`
//! lets root map the custom range before the container first starts, and a new
//! bind directory belongs to the host ids its owner maps to. The stand-in's `pct
//! start` refuses the map when `/etc/subgid` does not allow it, as LXC's
//! `newgidmap` does.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::json;

use super::host;
use crate::helpers::{set_field, update_json};

/// The `lxc.idmap` lines of the main section of a container config.
fn idmap_lines(conf: &str) -> Vec<String> {
    conf.split("\n[")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("lxc.idmap"))
        .map(str::to_string)
        .collect()
}

fn is_root() -> bool {
    let out = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

#[test]
fn a_gid_map_reaches_the_config_the_host_s_subgid_and_the_bind_directory() {
    let Some(h) = host() else { return };
    set_field(
        &h.defs,
        "101",
        "id_maps",
        json!([{ "type": "gid", "host_id": 33, "container_id": 33, "size": 1 }]),
    );
    set_field(
        &h.defs,
        "101",
        "mount_points",
        json!([{ "host_path": "/srv/web/logs", "container_path": "/var/log/nginx",
                 "owner_gid": 33 }]),
    );
    // Not root, the chown cannot run for real: a `chown` first on PATH records
    // what it was asked instead.
    let chowns = h.path().join("chowns.log");
    let root = is_root();
    if !root {
        let fake = h.pve.bin.join("chown");
        std::fs::write(
            &fake,
            format!("#!/bin/sh\necho \"$@\" >> '{}'\n", chowns.display()),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let out = h.build(&["101"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    h.pve.assert_no_violations();

    let host_root = h.pve.root();
    let read = |rel: &str| std::fs::read_to_string(host_root.join(rel)).unwrap();
    assert_eq!(
        read("etc/subgid"),
        "root:100000:65536\nroot:33:1\n",
        "root may map host gid 33; the line that was there stays"
    );
    assert_eq!(
        read("etc/subuid"),
        "root:100000:65536\n",
        "uids: the default"
    );
    let conf = read("etc/pve/lxc/101.conf");
    assert_eq!(
        idmap_lines(&conf),
        [
            "lxc.idmap: u 0 100000 65536",
            "lxc.idmap: g 0 100000 33",
            "lxc.idmap: g 33 33 1",
            "lxc.idmap: g 34 100034 65502"
        ],
        "{conf}"
    );
    // The new bind directory: root's uid, the host's gid 33.
    let dir = host_root.join("srv/web/logs");
    assert!(dir.is_dir());
    if root {
        let meta = std::fs::metadata(&dir).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (100_000, 33));
    } else {
        let log = std::fs::read_to_string(&chowns).unwrap();
        assert_eq!(log, format!("100000:33 {}\n", dir.display()));
    }
    assert_eq!(h.pve.stand_in_state()["guests"]["101"]["status"], "running");

    // Built: a second build runs nothing.
    let before = h.pve.commands().len();
    let out = h.build(&["101"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.summary()["steps_run"], 0, "{}", out.stdout);
    h.pve.assert_only_inventory_since(before);

    // Without phoenix's line in /etc/subgid the host refuses to start it.
    let stop = h.pve.run(&["pct", "stop", "101"]);
    assert!(stop.status.success(), "{stop:?}");
    std::fs::write(host_root.join("etc/subgid"), "root:100000:65536\n").unwrap();
    let start = h.pve.run(&["pct", "start", "101"]);
    let err = String::from_utf8_lossy(&start.stderr);
    assert!(!start.status.success(), "started without the subgid line");
    assert!(
        err.contains("newgidmap: gid range [33-34) -> [33-34) not allowed")
            && err.contains("startup for container '101' failed"),
        "{err}"
    );
    // With it back, it starts.
    std::fs::write(
        host_root.join("etc/subgid"),
        read("etc/subgid") + "root:33:1\n",
    )
    .unwrap();
    let start = h.pve.run(&["pct", "start", "101"]);
    assert!(start.status.success(), "{start:?}");

    // The map removed from the definition (a define field: 101 is made again):
    // no `lxc.idmap` line is left, and the subgid line stays.
    update_json(&h.defs.join("phoenix_lxc_configs.json"), |v| {
        v["lxc_configs"]["101"]
            .as_object_mut()
            .unwrap()
            .remove("id_maps");
    });
    let out = h.build(&["--allow-replace", "101"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(idmap_lines(&read("etc/pve/lxc/101.conf")).is_empty());
    assert!(read("etc/subgid").contains("root:33:1"));
    h.pve.assert_no_violations();
}

/// The stand-in refuses maps LXC would not start: one that does not map the
/// container's root, one with holes (stricter than LXC: phoenix never writes
/// one), one whose custom range root is not allowed in `/etc/subuid`.
#[test]
fn the_stand_in_refuses_maps_lxc_would_not_start() {
    let Some(h) = host() else { return };
    let out = h.build(&["103"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let conf_path = h.pve.root().join("etc/pve/lxc/103.conf");
    let conf = std::fs::read_to_string(&conf_path).unwrap();
    let try_map = |lines: &[&str]| -> String {
        // Stopped already where the last start was refused.
        let _ = h.pve.run(&["pct", "stop", "103"]);
        // Into the main section, before the snapshots' sections.
        let (main, snapshots) = conf.split_at(conf.find("\n[").map_or(conf.len(), |i| i + 1));
        let mut text = main.to_string();
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(&conf_path, text + snapshots).unwrap();
        let start = h.pve.run(&["pct", "start", "103"]);
        if start.status.success() {
            String::new()
        } else {
            String::from_utf8_lossy(&start.stderr).into_owned()
        }
    };
    let u = "lxc.idmap: u 0 100000 65536";
    let g = "lxc.idmap: g 0 100000 65536";
    assert!(try_map(&[u, g]).is_empty(), "the default, written out");
    assert!(
        try_map(&[u, "lxc.idmap: g 1 100001 65535"]).contains("No gid mapping for container root")
    );
    assert!(
        try_map(&[
            u,
            "lxc.idmap: g 0 100000 10",
            "lxc.idmap: g 11 100011 65525"
        ])
        .contains("container gids 10-10 are not mapped")
    );
    assert!(try_map(&[u, "lxc.idmap: g 0 100000 65535"]).contains("gids 65535-65535"));
    assert!(
        try_map(&["lxc.idmap: u 0 200000 65536", g])
            .contains("newuidmap: uid range [0-65536) -> [200000-265536) not allowed")
    );
    assert!(try_map(&["lxc.idmap: u 0 100000 x", g]).contains("failed to parse idmap"));
    // Allowed by back-to-back entries.
    std::fs::write(
        h.pve.root().join("etc/subuid"),
        "root:100000:65536\nroot:200000:10\n0:200010:65526\n",
    )
    .unwrap();
    assert!(try_map(&["lxc.idmap: u 0 200000 65536", g]).is_empty());
    assert!(Path::new(&conf_path).exists());
}
