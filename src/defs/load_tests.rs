//! Reading the container file while it is skimmed, against the plain parse.

use std::path::Path;
use std::sync::Arc;

use super::{JsonFile, containers_in_parallel, nothing_read, parse_object};
use crate::defs::diag::Diagnostics;
use crate::defs::model::{Definitions, KeyTexts};
use crate::defs::{ct, layout};

fn empty() -> Definitions {
    nothing_read(Path::new("/nonexistent"))
}

/// What a path made of the file: each guest's ID, name and text, the globals,
/// and every diagnostic.
fn outcome(defs: &Definitions, diags: &Diagnostics) -> (Vec<String>, String, Vec<String>) {
    let guests = defs
        .guests
        .values()
        .map(|g| format!("{} {} {:?}", g.id, g.name, g.definition()))
        .collect();
    let diags = diags.0.iter().map(|d| format!("{d:?}")).collect();
    (guests, format!("{:?}", defs.lxc_globals), diags)
}

/// Guests read while the file is skimmed come out as the plain parse of the
/// whole file has them: every entry is read, but of a key written twice only
/// the last (a wrong field in the first says nothing), of `lxc_configs` written
/// twice only the last, and in the order an object keeps its keys.
#[test]
fn reading_while_skimming_gives_what_the_plain_parse_gives() {
    let guest = |id: u32, extra: &str| {
        format!(r#""{id}": {{"name": "g{id}", "template": "local:vztmpl/t.tar.zst"{extra}}}"#)
    };
    // Enough guests for many batches, a repeat that spans two of them.
    let mut many: Vec<String> = (0..150)
        .map(|i| guest(1000 + (i * 7919) % 5000, ""))
        .collect();
    many.insert(3, guest(1003, r#", "cores": "wrong""#));
    many.push(guest(1003, r#", "memory_mb": 512"#));
    many.push(guest(99, r#", "cores": "not a number""#));
    let texts = [
        format!(r#"{{"lxc_configs": {{{}}}, "g": 1}}"#, many.join(", ")),
        format!(
            r#"{{"lxc_configs": {{{}}}, "v": "2", "lxc_configs": {{{}}}}}"#,
            guest(500, r#", "cores": "x""#),
            many[..40].join(", ")
        ),
        format!(
            r#"{{"lxc_configs": {{{}}}}}"#,
            guest(7, r#", "x": {"y": 1, "y": 2}"#)
        ),
    ];
    let file = JsonFile {
        rel: layout::LXC_FILE.to_string(),
        required: true,
        guests: Some("lxc_configs"),
    };
    for text in texts {
        let (mut fast, mut fast_diags) = (empty(), Diagnostics::default());
        let shared = Arc::new(text.clone());
        assert!(containers_in_parallel(
            &shared,
            &file,
            &mut fast,
            &mut fast_diags,
            KeyTexts::Now,
        ));
        let (mut plain, mut plain_diags) = (empty(), Diagnostics::default());
        let root = parse_object(text.as_bytes(), &file, &mut plain_diags).expect("an object");
        ct::read_lxc(&mut plain, root, &mut plain_diags, KeyTexts::Now);
        assert!(!fast.guests.is_empty());
        assert_eq!(
            outcome(&fast, &fast_diags),
            outcome(&plain, &plain_diags),
            "{text}"
        );
    }
}

/// A guest's text the skim cut but that does not parse, or that nests too
/// deep, sends the file to the plain parse, having changed nothing.
#[test]
fn a_guest_that_does_not_parse_goes_to_the_plain_parse() {
    let nested = format!("{}1{}", "[".repeat(120), "]".repeat(120));
    let good = r#""900": {"name": "a", "template": "local:vztmpl/t.tar.zst"}"#;
    let file = JsonFile {
        rel: layout::LXC_FILE.to_string(),
        required: true,
        guests: Some("lxc_configs"),
    };
    for bad in [
        // Written twice: the first is replaced, and still not JSON.
        r#""900": {"name": tru}"#.to_string(),
        r#""901": {"name": tru}"#.to_string(),
        r#""901": {"name": "a" "b"}"#.to_string(),
        "\"901\": {\"name\": \"a\u{1}\"}".to_string(),
        format!(r#""901": {{"x": {nested}}}"#),
    ] {
        // A bad guest in an `lxc_configs` that a later one replaces, too.
        for text in [
            format!(r#"{{"lxc_configs": {{{bad}, {good}}}}}"#),
            format!(r#"{{"lxc_configs": {{{bad}}}, "lxc_configs": {{{good}}}}}"#),
        ] {
            let (mut defs, mut diags) = (empty(), Diagnostics::default());
            let shared = Arc::new(text.clone());
            assert!(
                !containers_in_parallel(&shared, &file, &mut defs, &mut diags, KeyTexts::Now),
                "{text}"
            );
            assert!(
                defs.guests.is_empty() && diags.sorted().is_empty(),
                "{text}"
            );
        }
    }
}

/// A guest's key texts written when asked, from its text, are those written as
/// it was read: for every era's way of writing a field, a repeated key, a secret,
/// nested objects, unknown and application fields, and a VM.
#[test]
fn key_texts_written_when_asked_are_those_written_as_read() {
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, v: serde_json::Value| {
        std::fs::write(dir.path().join(name), v.to_string()).unwrap();
    };
    write(
        layout::HYPERVISOR_FILE,
        json!({ "vm_defaults": { "storage_pool": "vm" } }),
    );
    write(
        layout::LXC_FILE,
        json!({ "nvidia_driver_version": "580", "lxc_configs": {
            "900": { "name": "base", "template": "/t/os.tar.zst", "memory_mb": 2048,
                     "features": "nesting=1,keyctl=1", "template_snapshot_name": "ss",
                     "network_config": { "name": "eth0", "ip": "dhcp", "gw": "" },
                     "db_password": "hunter2", "app_settings": { "token": "t", "n": [1, 2.5] },
                     "mystery": null },
            "901": { "name": "clone", "clone_from_template_ctid": "900", "cores": 2,
                     "features": ["base_setup"], "environment": ["A=1", "API_KEY=x"] }
        }}),
    );
    write(
        layout::VM_FILE,
        json!({ "vms": [{ "vmid": 9000, "name": "vm", "template_image": "a.img",
                          "cores": 2, "cloud_init": { "user": "me" } }] }),
    );
    // A key written twice: the last value is the one kept.
    let lxc = dir.path().join(layout::LXC_FILE);
    let text = std::fs::read_to_string(&lxc).unwrap();
    std::fs::write(
        &lxc,
        text.replacen("\"cores\":2", "\"cores\":1,\"cores\":2", 1),
    )
    .unwrap();
    let texts = |when| {
        let (defs, _) = crate::defs::load_unchecked(dir.path(), when);
        defs.guests
            .values()
            .map(|g| format!("{}: {:?}", g.label(), g.key_fields()))
            .collect::<Vec<_>>()
    };
    let now = texts(KeyTexts::Now);
    assert_eq!(now.len(), 3, "{now:?}");
    assert!(now.iter().all(|t| t.len() > 40), "{now:?}");
    assert!(!now.concat().contains("hunter2"), "{now:?}");
    assert_eq!(now, texts(KeyTexts::WhenAsked));
}
