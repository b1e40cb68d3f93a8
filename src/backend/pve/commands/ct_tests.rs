//! `pct set` against a clone's inherited config, and bind mount sources.

use super::*;
use crate::defs::{GuestKind, IdKind, IdRange, Volume};

fn ct() -> Guest {
    let mut g = Guest::empty(GuestKind::Ct, 950, "f.json", "x");
    g.name = "web".into();
    g.devices.gpus = vec![0];
    g.mounts.binds = vec![BindMount {
        host_path: "/srv/models".into(),
        container_path: "/models".into(),
        owner_uid: Some(1000),
        owner_gid: None,
    }];
    g.mounts.volumes = vec![Volume {
        name: None,
        pool: "tank".into(),
        size_gb: 8,
        mount_point: "/data".into(),
    }];
    g
}

#[test]
fn a_clone_s_devices_and_mounts_become_exactly_its_own() {
    // The source had two GPUs and another bind mount; the clone wants one GPU.
    // dev1 and dev2 came without a mode (0660, root's in the guest).
    let current = Current::parse(
        "dev0: path=/dev/nvidiactl,mode=0666\ndev1: /dev/nvidia-uvm\ndev2: /dev/nvidia-uvm-tools,mode=0660\ndev3: mode=0666,path=/dev/nvidia0\ndev4: /dev/nvidia1,mode=0666\nmp0: /srv/other,mp=/other\nmp1: tank:vm-950-disk-1,mp=/data,size=8G\n",
    );
    let set = ct_configure(&ct(), &current)[0].display();
    assert!(set.contains("--delete dev4,mp0"), "{set}");
    assert!(
        !set.contains("--dev0") && !set.contains("--dev3"),
        "unchanged devices are not set again: {set}"
    );
    // Every node readable by the guest's unprivileged services.
    assert!(
        set.contains("--dev1 path=/dev/nvidia-uvm,mode=0666"),
        "{set}"
    );
    assert!(
        set.contains("--dev2 path=/dev/nvidia-uvm-tools,mode=0666"),
        "{set}"
    );
    assert!(set.contains("--mp2 /srv/models,mp=/models"), "{set}");
    assert!(!set.contains("--mp1"), "{set}");
    assert!(!set.contains("unprivileged"), "read-only after creation");
    // A bind mount whose host path changed keeps its index.
    let moved = Current::parse("mp0: /srv/old,mp=/models\nmp1: tank:vm-950-disk-1,mp=/data\n");
    let set = ct_configure(&ct(), &moved)[0].display();
    assert!(
        set.contains("--mp0 /srv/models,mp=/models") && !set.contains("--delete"),
        "{set}"
    );
}

/// GitHub issue 8: a new bind directory goes to the host ids the owner maps to
/// under the container's map, `id_maps` holes filled; an owner the map does not
/// hold gets no chown.
#[test]
fn bind_source_owners_follow_the_container_s_id_map() {
    let mut g = ct();
    g.shape.unprivileged = true;
    g.shape.id_maps = vec![IdRange {
        kind: IdKind::Gid,
        container: 33,
        host: 33,
        size: 1,
    }];
    let owner = |g: &Guest, uid: Option<u64>, gid: Option<u64>| {
        let b = BindMount {
            owner_uid: uid,
            owner_gid: gid,
            ..g.mounts.binds[0].clone()
        };
        bind_source(g, &b, "/srv/www").argv.last().cloned().unwrap()
    };
    assert_eq!(
        owner(&g, None, Some(33)),
        "100000:33",
        "gid 33 is the host's 33"
    );
    assert_eq!(
        owner(&g, Some(33), Some(34)),
        "100033:100034",
        "the rest: default"
    );
    assert_eq!(owner(&g, None, None), "100000:100000");
    assert_eq!(
        owner(&g, Some(70_000), Some(33)),
        "",
        "uid 70000 is not mapped"
    );
    // Raw lines are the map as written.
    g.shape.id_maps.clear();
    g.settings.lxc_options = vec![
        "lxc.idmap: u 0 200000 65536".into(),
        "lxc.idmap = g 0 300000 65536".into(),
    ];
    assert_eq!(owner(&g, Some(1), Some(2)), "200001:300002");
    // A privileged container: as given, and only when given.
    g.settings.lxc_options.clear();
    g.shape.unprivileged = false;
    assert_eq!(owner(&g, None, Some(33)), "0:33");
    assert_eq!(owner(&g, None, None), "");
}

#[test]
fn bind_sources_are_made_and_given_to_the_mapped_root_only_when_new() {
    let mut g = ct();
    g.shape.unprivileged = true;
    let c = bind_source(&g, &g.mounts.binds[0], "/srv/models");
    assert_eq!(c.argv.last().map(String::as_str), Some("101000:100000"));
    g.shape.unprivileged = false;
    let c = bind_source(&g, &g.mounts.binds[0], "/srv/models");
    assert_eq!(c.argv.last().map(String::as_str), Some("1000:0"));

    // The script, for real: an existing directory is left alone; a new one is made
    // and chowned (to ourselves here, which needs no privilege).
    let me = |f: &str| {
        let out = std::process::Command::new("id").arg(f).output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let owner = format!("{}:{}", me("-u"), me("-g"));
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("a/b").display().to_string();
    let mut run = bind_source(&g, &g.mounts.binds[0], &new);
    *run.argv.last_mut().unwrap() = owner.clone();
    let status = std::process::Command::new(&run.argv[0])
        .args(&run.argv[1..])
        .status()
        .unwrap();
    assert!(status.success() && std::path::Path::new(&new).is_dir());
    // A path that is a file stays an error, as Proxmox's start would be.
    let file = dir.path().join("f").display().to_string();
    std::fs::write(&file, "x").unwrap();
    let mut run = bind_source(&g, &g.mounts.binds[0], &file);
    *run.argv.last_mut().unwrap() = String::new();
    let status = std::process::Command::new(&run.argv[0])
        .args(&run.argv[1..])
        .status()
        .unwrap();
    assert!(!status.success());
    // An existing directory with a bogus owner: untouched, so no chown error.
    let mut run = bind_source(&g, &g.mounts.binds[0], &new);
    *run.argv.last_mut().unwrap() = "no-such-user-xyz".into();
    let status = std::process::Command::new(&run.argv[0])
        .args(&run.argv[1..])
        .status()
        .unwrap();
    assert!(status.success(), "an existing directory is never chowned");
}
