//! `id_maps` read and checked, and the effective map: holes filled, raw lines
//! win, bad input named by file, JSON path and fix.

use serde_json::{Value, json};

use super::*;
use crate::defs::{Definitions, Diagnostics, Severity, layout, load};

/// Load one container 101 with `fields` on top of a valid unprivileged one.
fn load_ct(fields: Value) -> (Definitions, Diagnostics) {
    let mut ct = json!({ "name": "web", "template": "local:vztmpl/x.tar.zst",
                         "unprivileged": true, "memory_mb": 512 });
    let Value::Object(fields) = fields else {
        panic!("fields are an object")
    };
    for (k, v) in fields {
        ct[k] = v;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(layout::HYPERVISOR_FILE), "{}").unwrap();
    let lxc = json!({ "lxc_configs": { "101": ct } });
    std::fs::write(dir.path().join(layout::LXC_FILE), lxc.to_string()).unwrap();
    load(dir.path())
}

/// `path: message` of each diagnostic of `severity`.
fn found(diags: &Diagnostics, severity: Severity) -> Vec<String> {
    diags
        .0
        .iter()
        .filter(|d| d.severity == severity)
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect()
}

fn errors_of(fields: Value) -> Vec<String> {
    found(&load_ct(fields).1, Severity::Error)
}

fn range(kind: IdKind, container: u32, host: u32, size: u32) -> IdRange {
    IdRange {
        kind,
        container,
        host,
        size,
    }
}

fn lines(map: &IdMap) -> Vec<String> {
    map.ranges.iter().map(ToString::to_string).collect()
}

#[test]
fn an_entry_is_kept_and_the_holes_get_proxmox_s_default() {
    let (defs, diags) = load_ct(json!({ "id_maps": [
        { "type": "gid", "host_id": 33, "container_id": 33, "size": 1 } ] }));
    assert!(!diags.has_errors(), "{:?}", diags.sorted());
    let g = defs.guest(101).unwrap();
    assert_eq!(g.shape.id_maps, [range(IdKind::Gid, 33, 33, 1)]);
    let map = g.id_map();
    assert_eq!(map.origin, MapOrigin::IdMaps);
    assert_eq!(
        lines(&map),
        [
            "u 0 100000 65536",
            "g 0 100000 33",
            "g 33 33 1",
            "g 34 100034 65502"
        ]
    );
    assert_eq!(
        map.config_lines()[2],
        "lxc.idmap: g 33 33 1",
        "as the config file holds it"
    );
    assert_eq!(map.host_id(IdKind::Gid, 33), Some(33));
    assert_eq!(map.host_id(IdKind::Gid, 34), Some(100_034));
    assert_eq!(map.host_id(IdKind::Uid, 33), Some(100_033));
    assert_eq!(map.host_id(IdKind::Gid, 65_536), None);
    // Only the range outside the default block needs the host's subgid.
    assert_eq!(
        map.ranges_outside_default(IdKind::Gid),
        [range(IdKind::Gid, 33, 33, 1)]
    );
    assert!(map.ranges_outside_default(IdKind::Uid).is_empty());
}

#[test]
fn entries_at_both_ends_and_several_kinds_fill_exactly_the_rest() {
    let entries = [
        range(IdKind::Uid, 65_535, 1000, 1),
        range(IdKind::Uid, 0, 200_000, 10),
        range(IdKind::Gid, 1000, 1000, 2),
    ];
    let map = IdMap::effective(true, &entries, &[]);
    assert_eq!(
        lines(&map),
        [
            "u 0 200000 10",
            "u 10 100010 65525",
            "u 65535 1000 1",
            "g 0 100000 1000",
            "g 1000 1000 2",
            "g 1002 101002 64534"
        ]
    );
    for kind in IdKind::BOTH {
        let total: u32 = map
            .ranges
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.size)
            .sum();
        assert_eq!(total, CONTAINER_IDS, "{kind:?} covers 0..65536");
    }
}

#[test]
fn without_entries_the_map_is_proxmox_s_default_or_none() {
    let map = IdMap::effective(true, &[], &["lxc.mount.auto:sys:rw".into()]);
    assert_eq!(map.origin, MapOrigin::ProxmoxDefault);
    assert_eq!(lines(&map), ["u 0 100000 65536", "g 0 100000 65536"]);
    assert!(map.config_lines().is_empty(), "Proxmox adds it itself");
    assert!(map.ranges_outside_default(IdKind::Uid).is_empty());
    assert_eq!(map.host_id(IdKind::Uid, 1000), Some(101_000));

    let privileged = IdMap::effective(false, &[], &[]);
    assert_eq!(privileged.origin, MapOrigin::None);
    assert_eq!(privileged.host_id(IdKind::Gid, 33), Some(33), "host ids");
}

#[test]
fn raw_idmap_lines_are_the_map_as_written() {
    let options: Vec<String> = [
        "lxc.idmap: u 0 100000 65536",
        "lxc.idmap = g 0 100000 1000",
        "lxc.idmap=g 1000 1000 1",
        "lxc.idmap: g 1001 101001 64535",
        "lxc.apparmor.profile: unconfined",
    ]
    .map(String::from)
    .into();
    for unprivileged in [true, false] {
        let map = IdMap::effective(unprivileged, &[], &options);
        assert_eq!(map.origin, MapOrigin::RawLines);
        assert_eq!(
            lines(&map),
            [
                "u 0 100000 65536",
                "g 0 100000 1000",
                "g 1000 1000 1",
                "g 1001 101001 64535"
            ]
        );
        assert!(map.config_lines().is_empty(), "written as lxc_options");
        assert_eq!(map.host_id(IdKind::Gid, 1000), Some(1000));
    }
    let (defs, diags) = load_ct(json!({ "lxc_options": options }));
    assert!(diags.0.is_empty(), "{:?}", diags.sorted());
    assert_eq!(
        defs.guest(101).unwrap().id_map().origin,
        MapOrigin::RawLines
    );
}

#[test]
fn bad_entries_are_named_by_their_json_path() {
    let at = |entry: Value| errors_of(json!({ "id_maps": [entry] }));
    let p = "lxc_configs.101.id_maps[0]";
    assert_eq!(
        at(json!({ "type": "group", "host_id": 33, "container_id": 33, "size": 1 })),
        [format!(
            "{p}.type: id map type the string \"group\" is neither `uid` nor `gid`"
        )]
    );
    assert_eq!(
        at(json!({ "type": "gid", "container_id": 33, "size": 1 })),
        [format!("{p}: missing `host_id`")]
    );
    assert_eq!(
        at(json!({ "type": "gid", "host_id": -1, "container_id": 33, "size": 1 })),
        [format!("{p}.host_id: `host_id` is negative (-1)")]
    );
    assert_eq!(
        at(json!({ "type": "gid", "host_id": "33", "container_id": 33, "size": 1 })),
        [format!(
            "{p}.host_id: expected a whole number, found the string \"33\""
        )]
    );
    assert_eq!(
        at(json!({ "type": "uid", "host_id": 33, "container_id": 1.5, "size": 1 })),
        [format!(
            "{p}.container_id: `container_id` 1.5 is not a whole number"
        )]
    );
    assert_eq!(
        at(json!({ "type": "uid", "host_id": 33, "container_id": 33, "size": 0 })),
        [format!("{p}.size: `size` is 0")]
    );
    assert_eq!(
        at(json!({ "type": "uid", "host_id": 33, "container_id": 65_530, "size": 10 })),
        [format!(
            "{p}.container_id: container uids 65530 to 65539 go past 65535"
        )]
    );
    assert_eq!(
        at(json!({ "type": "uid", "host_id": u64::MAX, "container_id": 0, "size": 1 })),
        [format!(
            "{p}.host_id: `host_id` 18446744073709551615 is larger than 4294967294, the largest id Linux has"
        )]
    );
    assert_eq!(
        at(json!({ "type": "uid", "host_id": 4_294_967_290_u64, "container_id": 0, "size": 9 })),
        [format!(
            "{p}.host_id: host uids 4294967290 to 4294967298 go past 4294967294, the largest id Linux has"
        )]
    );
    assert_eq!(
        at(json!("gid 33 33 1")),
        [format!(
            "{p}: expected an object, found the string \"gid 33 33 1\""
        )]
    );
    assert_eq!(
        errors_of(json!({ "id_maps": { "type": "gid" } })),
        ["lxc_configs.101.id_maps: expected an array, found an object"]
    );
    // Every diagnostic says what to change, in the container file.
    let (_, diags) = load_ct(json!({ "id_maps": [{ "type": "x" }] }));
    assert!(diags.0.iter().all(|d| d.help.is_some()
        && d.file == layout::LXC_FILE
        && d.path.starts_with("lxc_configs.101.id_maps[0]")));
    assert_eq!(diags.error_count(), 4, "{:?}", diags.sorted());
}

#[test]
fn overlapping_entries_and_default_ids_are_errors() {
    let g = |container: u32, host: u32, size: u32| json!({ "type": "gid", "host_id": host, "container_id": container, "size": size });
    assert_eq!(
        errors_of(json!({ "id_maps": [g(30, 30, 5), g(33, 1033, 1)] })),
        [
            "lxc_configs.101.id_maps[1].container_id: container gid 33 is also mapped by lxc_configs.101.id_maps[0]"
        ]
    );
    assert_eq!(
        errors_of(json!({ "id_maps": [g(30, 30, 5), g(40, 32, 1)] })),
        [
            "lxc_configs.101.id_maps[1].host_id: host gid 32 is also the target of lxc_configs.101.id_maps[0]"
        ]
    );
    // A uid and a gid entry may share numbers.
    let uid = json!({ "type": "uid", "host_id": 30, "container_id": 30, "size": 5 });
    assert!(errors_of(json!({ "id_maps": [g(30, 30, 5), uid] })).is_empty());
    // Container gid 50 lands on 100060, where the default puts container gid 60.
    assert_eq!(
        errors_of(json!({ "id_maps": [g(50, 100_060, 1)] })),
        [
            "lxc_configs.101.id_maps[0].host_id: host gid 100060 is also where container gid 60 lands by Proxmox's default (100000 + id)"
        ]
    );
    // Mapping 60 elsewhere frees 100060.
    assert!(errors_of(json!({ "id_maps": [g(50, 100_060, 1), g(60, 100_050, 1)] })).is_empty());
}

#[test]
fn id_maps_need_an_unprivileged_container_and_no_raw_idmap_lines() {
    let entry = json!([{ "type": "gid", "host_id": 33, "container_id": 33, "size": 1 }]);
    assert_eq!(
        errors_of(json!({ "unprivileged": false, "id_maps": entry })),
        ["lxc_configs.101.id_maps: `id_maps` on a privileged container"]
    );
    let (defs, diags) = load_ct(json!({ "id_maps": entry,
        "lxc_options": ["lxc.mount.auto:sys:rw", "lxc.idmap: u 0 100000 65536",
                        "lxc.idmap: g 0 100000 65536"] }));
    let d = diags.0.iter().find(|d| d.is_error()).unwrap();
    assert_eq!(
        d.to_string(),
        "error: phoenix_lxc_configs.json: lxc_configs.101.id_maps: both `id_maps` and raw `lxc.idmap` lines (lxc_configs.101.lxc_options[1], lxc_configs.101.lxc_options[2]) give the container's id map\n  help: keep one: `id_maps` (phoenix writes the whole map, the rest of it Proxmox's default) or the raw lines (the whole map, as written); remove the other"
    );
    assert_eq!(diags.error_count(), 1);
    // The raw lines are the map until the conflict is resolved.
    assert_eq!(
        defs.guest(101).unwrap().id_map().origin,
        MapOrigin::RawLines
    );
    // An empty list is no map.
    assert!(errors_of(json!({ "unprivileged": false, "id_maps": [] })).is_empty());
}

#[test]
fn raw_idmap_lines_must_parse_and_map_root() {
    assert_eq!(
        errors_of(
            json!({ "lxc_options": ["lxc.idmap: g 0 100000", "lxc.idmap: u 0 100000 65536",
                                          "lxc.idmap: g 0 100000 0", "lxc.idmap: g 0 100000 99999999999"] })
        ),
        [
            "lxc_configs.101.lxc_options[0]: `lxc.idmap` value `g 0 100000` is not `u|g <container id> <host id> <count>`",
            "lxc_configs.101.lxc_options[2]: `lxc.idmap` `g 0 100000 0` maps no ids",
            "lxc_configs.101.lxc_options[3]: `lxc.idmap` `g 0 100000 99999999999` has a number larger than 4294967294, the largest id Linux has",
            "lxc_configs.101.lxc_options: the raw `lxc.idmap` lines map no container gid 0",
        ]
    );
    assert_eq!(
        errors_of(
            json!({ "lxc_options": ["lxc.idmap: u 0 100000 65536", "lxc.idmap: u 10 200000 5",
                                          "lxc.idmap: g 0 100000 65536"] })
        ),
        [
            "lxc_configs.101.lxc_options[1]: container uid 10 is also mapped by lxc_configs.101.lxc_options[0]"
        ]
    );
    // Holes are allowed by LXC, but warned about.
    let (_, diags) = load_ct(json!({ "lxc_options": [
        "lxc.idmap: u 0 100000 1000", "lxc.idmap: g 0 100000 65536"] }));
    assert!(!diags.has_errors());
    assert_eq!(
        found(&diags, Severity::Warning),
        [
            "lxc_configs.101.lxc_options: the raw `lxc.idmap` lines leave 64536 container uids of 0 to 65535 unmapped (1000 to 65535 among them)"
        ]
    );
}

#[test]
fn a_bind_mount_owner_outside_the_map_is_warned_about() {
    let (_, diags) = load_ct(json!({
        "id_maps": [{ "type": "gid", "host_id": 33, "container_id": 33, "size": 1 }],
        "mount_points": [
            { "host_path": "/srv/www", "container_path": "/var/www", "owner_gid": 33 },
            { "host_path": "/srv/big", "container_path": "/big", "owner_uid": 70_000 } ] }));
    assert!(!diags.has_errors(), "{:?}", diags.sorted());
    assert_eq!(
        found(&diags, Severity::Warning),
        [
            "lxc_configs.101.mount_points[1].owner_uid: container uid 70000 of the bind mount at `/big` is not in the container's id map, so phoenix does not chown a new `/srv/big`"
        ]
    );
    // Raw lines that leave root's gid out: the default owner (0) is not mapped.
    let (_, diags) = load_ct(json!({
        "lxc_options": ["lxc.idmap: u 0 100000 65536", "lxc.idmap: g 1 100001 65535"],
        "mount_points": [{ "host_path": "/srv/www", "container_path": "/var/www" }] }));
    assert!(
        found(&diags, Severity::Warning).contains(
            &"lxc_configs.101.mount_points[0]: container gid 0 of the bind mount at `/var/www` is not in the container's id map, so phoenix does not chown a new `/srv/www`".to_string()
        ),
        "{:?}",
        diags.sorted()
    );
}

#[test]
fn raw_options_split_as_proxmox_lines() {
    assert_eq!(
        split_raw_option(" lxc.idmap = u 0 1 2 "),
        Some(("lxc.idmap", "u 0 1 2"))
    );
    assert_eq!(
        split_raw_option("lxc.mount.auto:sys:rw"),
        Some(("lxc.mount.auto", "sys:rw"))
    );
    assert_eq!(split_raw_option("nothing"), None);
}
