//! (a) Arbitrary input: bytes, JSON values, and files shaped like definitions but
//! filled with arbitrary values.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{
    GUEST_FIELDS, HOST_FIELDS, HYP, LXC, MIN_HOST, MIN_LXC, VM, config, exercise, write_tree,
};

/// Number literals a `serde_json::Value` cannot hold, spliced in as raw text.
const RAW_NUMBERS: &[&str] = &[
    "123456789012345678901234567890",
    "-123456789012345678901234567890",
    "1e400",
    "-1e400",
    "1e-400",
    "-0",
    "4294967296",
    "18446744073709551616",
];

fn raw_marker(i: usize) -> String {
    format!("\u{1}RAW{i}")
}

/// Serialize, replacing raw-number markers by their literal.
pub(super) fn to_text(v: &Value) -> String {
    let mut text = v.to_string();
    for (i, lit) in RAW_NUMBERS.iter().enumerate() {
        let marker = Value::String(raw_marker(i)).to_string();
        text = text.replace(&marker, lit);
    }
    text
}

fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("0".to_string()),
        Just("99".to_string()),
        Just("100".to_string()),
        Just("900".to_string()),
        Just("950".to_string()),
        Just(" 950 ".to_string()),
        Just("-1".to_string()),
        Just("4294967296".to_string()),
        Just("none".to_string()),
        Just("0,1".to_string()),
        Just(",".to_string()),
        Just("dhcp".to_string()),
        Just("10.0.0.5/24".to_string()),
        Just("10.0.0.5/99".to_string()),
        Just("10.0.0.5".to_string()),
        Just("52:54:00:AA:BB:CC".to_string()),
        Just("ff:ff:ff:ff:ff:ff".to_string()),
        Just("::::::".to_string()),
        Just("../../etc/passwd".to_string()),
        Just("-rf".to_string()),
        Just("docker".to_string()),
        Just("base_setup".to_string()),
        Just("a\u{0}b".to_string()),
        Just("ß🦀\u{202e}é".to_string()),
        Just("x".repeat(300)),
        "\\PC{0,12}",
        "[0-9,; ]{0,8}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u64..1200).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(0.5)),
        (0..RAW_NUMBERS.len()).prop_map(|i| Value::String(raw_marker(i))),
        interesting_string().prop_map(Value::String),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(GUEST_FIELDS).prop_map(str::to_string),
        prop::sample::select(HOST_FIELDS).prop_map(str::to_string),
        interesting_string(),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// An ID as the files write it, or nearly: numbers, digit strings, junk.
fn id_like() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u32..1200).prop_map(Value::from),
        (100u32..110).prop_map(|n| Value::String(n.to_string())),
        "[0-9 +-]{0,6}".prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
    ]
}

fn ip_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "([0-9]{1,3}\\.){0,4}[0-9]{0,3}(/[0-9]{0,3})?",
        // Four octets and a prefix, each maybe out of range.
        "(25[0-9]|1?[0-9]{1,2}|[0-9]{4})(\\.(25[0-9]|1?[0-9]{1,2}|300)){3}/(3[0-9]|[0-9]|[0-9]{3})",
        Just("dhcp".to_string()),
        Just("10.0.0.5/24".to_string()),
        "[ -~]{0,16}",
    ]
}

fn name_like() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9_.-]{0,10}", "[ -~]{0,12}", "\\PC{0,8}",]
}

/// A value for `field`: two times in three shaped like what the field holds (so the
/// value checks behind the type checks are reached), otherwise any JSON.
pub(super) fn field_value(field: &'static str) -> BoxedStrategy<Value> {
    let specific: BoxedStrategy<Value> = match field {
        "gpu_assignment" => "[0-9, ;a-z+-]{0,6}".prop_map(Value::String).boxed(),
        "mac_address" => prop_oneof![
            "([0-9a-fA-FzZ]{0,3}:){0,7}[0-9a-fA-F]{0,3}",
            // Six parts, each a good pair or not.
            "([0-9a-fA-F]{2}|[0-9a-fA-FzZ]{0,3}|é)(:([0-9a-fA-F]{2}|[0-9a-fA-FzZ]{1,3}|é)){5}",
            "([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}",
        ]
        .prop_map(Value::String)
        .boxed(),
        "network_config" => (ip_like(), prop::option::of(ip_like()))
            .prop_map(|(ip, gw)| match gw {
                Some(gw) => json!({"name": "eth0", "bridge": "vmbr0", "ip": ip, "gw": gw}),
                None => json!({"ip": ip}),
            })
            .boxed(),
        "vmid" | "clone_from_ctid" | "clone_from_vmid" => id_like().boxed(),
        "dependencies" => prop::collection::vec(id_like(), 0..4)
            .prop_map(Value::Array)
            .boxed(),
        // Entries near every limit: 0, 65535/65536, 100000, u32::MAX, negatives, overflow.
        "id_maps" => {
            let id = prop_oneof![
                prop::sample::select(vec![
                    0_i64,
                    1,
                    33,
                    65_535,
                    65_536,
                    100_000,
                    4_294_967_295,
                    -1
                ])
                .prop_map(Value::from),
                Just(json!(u64::MAX)),
                Just(json!("33")),
            ];
            prop::collection::vec(
                (
                    prop::sample::select(vec!["uid", "gid", "u", ""]),
                    id.clone(),
                    id.clone(),
                    id,
                )
                    .prop_map(|(t, h, c, n)| {
                        json!({"type": t, "host_id": h, "container_id": c, "size": n})
                    }),
                0..4,
            )
            .prop_map(Value::Array)
            .boxed()
        }
        "features" | "pct_options" => {
            prop::collection::vec(name_like().prop_map(Value::String), 0..4)
                .prop_map(Value::Array)
                .boxed()
        }
        // Raw lines, `lxc.idmap` ones among them, well-formed or not.
        "lxc_options" => {
            let line = prop_oneof![
                name_like(),
                "lxc\\.idmap[:=] ?[ugx] [0-9]{1,11} [0-9]{1,11} [0-9]{0,11}",
            ];
            prop::collection::vec(line.prop_map(Value::String), 0..4)
                .prop_map(Value::Array)
                .boxed()
        }
        "health_checks" => prop::collection::vec(
            (name_like(), prop::option::of(name_like()), arb_json()).prop_map(
                |(script, name, args)| json!({"name": name, "script": script, "args": args}),
            ),
            0..3,
        )
        .prop_map(Value::Array)
        .boxed(),
        "mount_points" | "zfs_volumes" | "volumes" => prop::collection::vec(
            (name_like(), name_like(), arb_json()).prop_map(|(a, b, size)| {
                json!({"container_path": a, "mount_point": b, "host_path": "/srv", "pool": "tank",
                       "size_gb": size, "type": "nfs", "server": "10.0.0.1", "path": "/x"})
            }),
            0..3,
        )
        .prop_map(Value::Array)
        .boxed(),
        "firewall" => prop::collection::vec(
            ("[a-zA-Z]{0,6}", "[a-zA-Z]{0,6}").prop_map(|(t, a)| json!({"type": t, "action": a})),
            0..3,
        )
        .prop_map(|rules| json!({"enabled": true, "rules": rules}))
        .boxed(),
        "memory_mb" | "cores" | "swap_mb" | "storage_size_gb" | "disk_size_gb" | "boot_order" => {
            prop_oneof![
                (0u64..5).prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                Just(json!(u64::MAX)),
                Just(json!(1.5)),
                "[0-9]{0,5}".prop_map(Value::String),
            ]
            .boxed()
        }
        "is_template" | "unprivileged" | "start_at_boot" => prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            Just(json!("true")),
            Just(json!(1)),
        ]
        .boxed(),
        _ => name_like().prop_map(Value::String).boxed(),
    };
    prop_oneof![1 => arb_json(), 2 => specific].boxed()
}

fn arb_field() -> impl Strategy<Value = (&'static str, Value)> {
    prop::sample::select(GUEST_FIELDS).prop_flat_map(|f| (Just(f), field_value(f)))
}

/// A guest-shaped object: known fields with arbitrary values.
fn arb_guest() -> impl Strategy<Value = Value> {
    prop::collection::vec(arb_field(), 0..10)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

fn arb_id_key() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..1100).prop_map(|n| n.to_string()),
        (100u32..110).prop_map(|n| n.to_string()),
        interesting_string(),
    ]
}

/// The three files, shaped like definitions but filled with arbitrary values.
fn arb_shaped_tree() -> impl Strategy<Value = (Value, Value, Option<Value>)> {
    let host = prop::collection::vec((prop::sample::select(HOST_FIELDS), arb_json()), 0..5)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    let lxc = prop::collection::vec((arb_id_key(), arb_guest()), 0..6)
        .prop_map(|kv| json!({ "lxc_configs": Value::Object(kv.into_iter().collect()) }));
    let vm = prop::option::of(
        (arb_json(), prop::collection::vec(arb_guest(), 0..4))
            .prop_map(|(defaults, vms)| json!({ "vm_defaults": defaults, "vms": vms })),
    );
    (host, lxc, vm)
}

proptest! {
    #![proptest_config(config(96))]

    /// (a) Arbitrary bytes as any one of the three files.
    #[test]
    fn arbitrary_bytes_do_not_panic(
        which in 0usize..3,
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            // Mostly-JSON bytes: the shape of a definition with noise in it.
            prop::collection::vec(prop::sample::select(b"{}[]\":,0123456789.-eE tfnulrsa\\\xef\xbb\xbf\xff".to_vec()), 0..128),
        ],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = [HYP, LXC, VM][which];
        write_tree(dir.path(), MIN_HOST, MIN_LXC, None);
        std::fs::write(dir.path().join(file), &bytes).unwrap();
        let loaded = exercise(dir.path(), &dir.path().join("cache"));
        // Bytes are not a valid definition unless they happen to be an object.
        if serde_json::from_slice::<Value>(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes)).map_or(true, |v| !v.is_object()) {
            prop_assert!(loaded.diags.0.iter().any(|d| d.is_error() && d.file == file), "{:?}", loaded.diags);
        }
    }

    /// (a) An arbitrary JSON value as any one of the three files.
    #[test]
    fn arbitrary_json_does_not_panic(which in 0usize..3, value in arb_json()) {
        let dir = tempfile::tempdir().unwrap();
        let mut files = [MIN_HOST.to_string(), MIN_LXC.to_string(), String::new()];
        files[which] = to_text(&value);
        let vm = (which == 2).then_some(files[2].as_str());
        write_tree(dir.path(), &files[0], &files[1], vm);
        exercise(dir.path(), &dir.path().join("cache"));
    }

    /// (a) Files shaped like definitions (guest maps, VM arrays, host sections)
    /// with arbitrary values, so the typed reads, graph and keys see them.
    #[test]
    fn shaped_arbitrary_trees_do_not_panic((host, lxc, vm) in arb_shaped_tree()) {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &to_text(&host), &to_text(&lxc), vm.as_ref().map(to_text).as_deref());
        exercise(dir.path(), &dir.path().join("cache"));
    }
}
