//! `pct set` against a clone's inherited config, bind mount sources, clones of
//! converted templates, the second interface.

use serde_json::{Value, json};

use super::*;
use crate::defs::{GuestKind, IdKind, IdRange, Volume, layout};

/// Definitions of these containers (`lxc_configs` entries by ID) on a host whose
/// hypervisor file is `host`.
fn defs_of(host: &Value, cts: &Value) -> Definitions {
    let dir = tempfile::tempdir().unwrap();
    let lxc = json!({ "lxc_configs": cts });
    std::fs::write(dir.path().join(layout::HYPERVISOR_FILE), host.to_string()).unwrap();
    std::fs::write(dir.path().join(layout::LXC_FILE), lxc.to_string()).unwrap();
    crate::defs::load(dir.path()).0
}

/// A converted template 900 on `pool`, its converted clone 901 (no storage of its
/// own) and clones 101 (with `storage_pool` `clone_pool`) and 102 (none) of 901.
fn chain(pool: &str, clone_pool: &str, template_volume_pool: Option<&str>) -> Value {
    let net = json!({ "name": "eth0", "bridge": "vmbr0", "ip": "dhcp" });
    let mut cts = json!({
        "900": { "name": "base", "template": "local:vztmpl/u.tar.zst", "storage_pool": pool,
                 "is_template": true, "network_config": net },
        "901": { "name": "gpu", "clone_from_ctid": "900", "is_template": true,
                 "network_config": net },
        "101": { "name": "web", "clone_from_ctid": "901", "storage_pool": clone_pool,
                 "network_config": net },
        "102": { "name": "ca", "clone_from_ctid": "901", "network_config": net }
    });
    if let Some(p) = template_volume_pool {
        cts["901"]["zfs_volumes"] =
            json!([{ "name": "m", "pool": p, "size_gb": 8, "mount_point": "/m" }]);
    }
    cts
}

fn clone_line(defs: &Definitions, id: u32) -> String {
    let g = defs.guest(id).unwrap();
    let (src, _) = g.clone_from.clone().unwrap();
    let source = defs.guest(src).unwrap();
    ct_clone(defs, g, source, source.template.snapshot_name()).display()
}

/// A clone of a converted template is linked, as Proxmox makes it by default,
/// wherever a linked clone can be made.
#[test]
fn a_converted_template_is_cloned_linked_where_proxmox_can() {
    let defs = defs_of(&json!({}), &chain("tank", "tank", None));
    assert_eq!(root_storage(&defs, defs.guest(901).unwrap()), "tank");
    assert_eq!(clone_line(&defs, 901), "pct clone 900 901 --hostname gpu");
    assert_eq!(clone_line(&defs, 101), "pct clone 901 101 --hostname web");
    assert_eq!(clone_line(&defs, 102), "pct clone 901 102 --hostname ca");
    // Another storage: a full copy there (`--storage` is refused for a linked one).
    let defs = defs_of(&json!({}), &chain("tank", "fast", None));
    assert_eq!(
        clone_line(&defs, 101),
        "pct clone 901 101 --hostname web --full 1 --storage fast"
    );
    assert_eq!(clone_line(&defs, 102), "pct clone 901 102 --hostname ca");
    assert!(
        linked_clone_blocker(&defs, defs.guest(101).unwrap(), defs.guest(901).unwrap())
            .unwrap()
            .contains("`fast`")
    );
    // No storage anywhere: Proxmox's `local-lvm` (LVM-thin clones a base volume).
    let mut none = chain("tank", "tank", None);
    for id in ["900", "101"] {
        none[id].as_object_mut().unwrap().remove("storage_pool");
    }
    let defs = defs_of(&json!({}), &none);
    assert_eq!(root_storage(&defs, defs.guest(101).unwrap()), "local-lvm");
    assert_eq!(clone_line(&defs, 101), "pct clone 901 101 --hostname web");
}

/// A directory storage has no linked clones of a container's raw or subvol
/// volumes: the template's root disk or one of its volumes there makes every
/// clone a full copy.
#[test]
fn a_template_on_a_directory_storage_is_cloned_in_full() {
    let host = json!({ "zfs": { "datasets": [
        { "pool": "quickOS", "name": "lxc-disks", "proxmox_storage_type": "zfspool" },
        { "pool": "quickOS", "name": "vm-persistent-data", "proxmox_storage_type": "dir" }
    ] } });
    let defs = defs_of(
        &host,
        &chain(
            "quickOS-vm-persistent-data",
            "quickOS-vm-persistent-data",
            None,
        ),
    );
    assert_eq!(
        clone_line(&defs, 101),
        "pct clone 901 101 --hostname web --full 1 --storage quickOS-vm-persistent-data"
    );
    assert_eq!(
        clone_line(&defs, 102),
        "pct clone 901 102 --hostname ca --full 1",
        "a full copy where the template is"
    );
    // Proxmox's own `local` is a directory storage.
    let defs = defs_of(&host, &chain("local", "local", None));
    assert_eq!(
        clone_line(&defs, 901),
        "pct clone 900 901 --hostname gpu --full 1"
    );
    assert!(clone_line(&defs, 101).ends_with("--full 1 --storage local"));
    // The root disk on ZFS, a volume of the template on the directory storage.
    let defs = defs_of(
        &host,
        &chain(
            "quickOS-lxc-disks",
            "quickOS-lxc-disks",
            Some("quickOS-vm-persistent-data"),
        ),
    );
    assert_eq!(clone_line(&defs, 901), "pct clone 900 901 --hostname gpu");
    assert_eq!(
        clone_line(&defs, 101),
        "pct clone 901 101 --hostname web --full 1 --storage quickOS-lxc-disks"
    );
    assert!(
        linked_clone_blocker(&defs, defs.guest(102).unwrap(), defs.guest(901).unwrap())
            .unwrap()
            .contains("directory storage `quickOS-vm-persistent-data`")
    );
}

/// `secondary_network_config` is `net1`, made with the container, set by
/// configure, deleted once the definition drops it; `firewall=1` on both when
/// the firewall is on; `ip=dhcp` as written.
#[test]
fn the_second_interface_is_net1() {
    let mut cts = json!({ "101": {
        "name": "nginx", "template": "local:vztmpl/u.tar.zst", "storage_pool": "tank",
        "network_config": { "name": "eth0", "bridge": "vmbr0.20", "ip": "dhcp",
                            "hwaddr": "02:00:00:00:01:01" },
        "secondary_network_config": { "name": "eth1", "bridge": "vmbr100",
            "ip": "172.16.100.10/24", "gw": "172.16.100.1", "hwaddr": "02:00:00:00:01:02" },
        "firewall": { "enabled": true, "rules": [] }
    } });
    let defs = defs_of(&json!({}), &cts);
    let g = defs.guest(101).unwrap();
    let net0 = "name=eth0,bridge=vmbr0.20,ip=dhcp,hwaddr=02:00:00:00:01:01,firewall=1";
    let net1 = "name=eth1,bridge=vmbr100,ip=172.16.100.10/24,gw=172.16.100.1,hwaddr=02:00:00:00:01:02,firewall=1";
    let create = ct_create(g, "phoenix").display();
    assert!(
        create.contains(&format!("--net0 {net0} --net1 {net1} --tags")),
        "{create}"
    );
    let set = ct_configure(
        g,
        &Current::parse(
            "net0: name=eth0,bridge=vmbr0
",
        ),
    )[0]
    .display();
    assert!(
        set.contains(&format!("--net0 {net0} --net1 {net1}")),
        "{set}"
    );
    assert!(!set.contains("--delete"), "{set}");

    // Dropped from the definition (and the firewall off): net1 goes, and so does
    // a net2 the container inherited from its clone source.
    cts["101"]
        .as_object_mut()
        .unwrap()
        .remove("secondary_network_config");
    cts["101"]["firewall"]["enabled"] = json!(false);
    let defs = defs_of(&json!({}), &cts);
    let g = defs.guest(101).unwrap();
    let current = Current::parse(&format!(
        "net0: {net0}
net1: {net1}
net2: name=eth2,bridge=vmbr9
"
    ));
    let set = ct_configure(g, &current)[0].display();
    assert!(set.contains("--delete net1,net2"), "{set}");
    assert!(
        set.contains("--net0 name=eth0,bridge=vmbr0.20,ip=dhcp,hwaddr=02:00:00:00:01:01 ")
            && !set.contains("--net1"),
        "{set}"
    );
    assert!(!ct_create(g, "phoenix").display().contains("--net1"));
}

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
