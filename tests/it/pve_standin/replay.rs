//! One path for dry run and real run (GitHub issue 8 §3): the command stream
//! `build --dry-run --backend pve all` prints for a fixture set, replayed line by
//! line through the stand-in Proxmox host, is accepted whole and leaves every
//! guest exactly as its definition says: its firewall rules in the defined order
//! and enabled, no rule or device inherited from its clone source, templates
//! stopped, every guest stamped as built.
//!
//! The replay runs only the Proxmox and storage tools (the stand-ins), the
//! bind-mount directory creation (under the stand-in host's root) and the cloud
//! image's file copies (in the stand-in host's image directory, where the dry run's
//! `test -f` took the image for cached: the replayed host has it). Everything else
//! in the stream acts on this machine's files or runs the user's scripts, and is
//! not Proxmox's to refuse: it is skipped, and counted, so the test also shows
//! that what it skipped is only that.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::fixtures::fixture_host;
use super::{Host, STAND_INS};
use crate::helpers::shared;
use phoenix::defs::{Guest, GuestKind, Severity, TemplateModel};

/// Whether `argv` only reads the host: the backend acts on its answer, so a probe
/// may fail (`zpool list` of a pool not made yet) where no other line may.
fn is_probe(argv: &[String]) -> bool {
    let w: Vec<&str> = argv.iter().map(String::as_str).collect();
    matches!(
        w.as_slice(),
        ["zpool", "list" | "status" | "import", ..]
            | ["zfs", "list" | "get", ..]
            | ["pvesh", "get", ..]
            | [
                "pct" | "qm",
                "status" | "config" | "pending" | "listsnapshot",
                ..
            ]
            | ["showmount", ..]
            | ["wipefs", "--json", ..]
    )
}

/// The command lines of `build --dry-run TARGETS`, as argv (a quoted argument may
/// span lines; `#` lines are headers).
fn dry_run(h: &Host, targets: &[String]) -> Vec<Vec<String>> {
    let out = h.phoenix().args(["build", "--dry-run"]).args(targets).run();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("# failed"), "{}", out.stdout);
    let mut cmds = Vec::new();
    let mut pending = String::new();
    for line in out.stdout.lines() {
        if pending.is_empty() && line.starts_with('#') {
            continue;
        }
        pending.push_str(line);
        match shlex::split(&pending) {
            Some(words) if !words.is_empty() => {
                cmds.push(words);
                pending.clear();
            }
            Some(_) => pending.clear(),
            None => pending.push('\n'),
        }
    }
    assert!(pending.is_empty(), "unterminated quote in:\n{}", out.stdout);
    cmds
}

/// Whether `argv` is the backend's "make this bind-mount source directory" command
/// (`sh -c '[ -d "$1" ] && exit 0; mkdir -p "$1" ...' sh DIR [OWNER]`).
fn bind_dir(argv: &[String]) -> Option<&str> {
    match argv {
        [sh, c, script, _, dir, ..]
            if sh.ends_with("sh") && c == "-c" && script.contains("mkdir -p \"$1\"") =>
        {
            Some(dir)
        }
        _ => None,
    }
}

/// `test -f`, `cp` or `rm -f` of files in the image directory `images`.
fn image_file_op<'a>(argv: &'a [String], images: &Path) -> Option<Vec<&'a str>> {
    let w: Vec<&str> = argv.iter().map(String::as_str).collect();
    let ours = |p: &&str| Path::new(p).starts_with(images);
    match w.as_slice() {
        ["test" | "rm", "-f", p] if ours(p) => Some(w),
        ["cp", "--reflink=auto", a, b] if ours(a) && ours(b) => Some(w),
        _ => None,
    }
}

/// Replay `cmds` on `h`'s stand-in host; panics at the first refused line.
/// Returns how many lines were skipped as not Proxmox's.
fn replay(h: &Host, cmds: &[Vec<String>]) -> usize {
    let shared = shared().unwrap();
    let root = h.pve.root();
    let uploads = h.path().join("replay-uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    let mut skipped = 0;
    for (n, argv) in cmds.iter().enumerate() {
        let line = shlex::try_join(argv.iter().map(String::as_str)).unwrap();
        if let Some(dir) = bind_dir(argv) {
            let dir = Path::new(dir);
            assert!(
                dir.starts_with(&root),
                "line {n}: `{line}` is outside the host root"
            );
            std::fs::create_dir_all(dir).unwrap();
            continue;
        }
        if let Some(op) = image_file_op(argv, &h.pve.images) {
            match op.as_slice() {
                ["test", "-f", path] => {
                    if !Path::new(path).exists() {
                        std::fs::write(path, b"a cached cloud image").unwrap();
                    }
                }
                ["cp", .., from, to] => {
                    std::fs::copy(from, to).unwrap();
                }
                ["rm", "-f", path] => {
                    let _ = std::fs::remove_file(path);
                }
                _ => unreachable!(),
            }
            continue;
        }
        if !STAND_INS.contains(&argv[0].as_str()) {
            skipped += 1;
            continue;
        }
        let mut argv = argv.clone();
        // The dry run removed its staged files; a push gets a stand-in for it.
        if argv[..2] == ["pct", "push"] && !Path::new(&argv[3]).exists() {
            let copy = uploads.join(format!("{n}"));
            std::fs::write(&copy, format!("staged {}\n", argv[3])).unwrap();
            argv[3] = copy.display().to_string();
        }
        let path = format!(
            "{}:{}",
            h.pve.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new(h.pve.bin.join(&argv[0]))
            .args(&argv[1..])
            .env("PATH", path)
            .env("PHOENIX_STANDIN_DIR", &h.pve.state)
            .env(
                "PHOENIX_STANDIN_SCHEMA",
                shared.join("proxmox/pve-api-schema.json"),
            )
            .env("PHOENIX_PVE_ROOT", &root)
            .output()
            .unwrap();
        assert!(
            out.status.success() || is_probe(&argv),
            "the stand-in host refused line {n} of the dry run:\n  {line}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    h.pve.assert_no_violations();
    skipped
}

/// One key of a Proxmox property string (`path=/dev/x,mode=0666`; the first
/// part may be the default key's value).
fn prop<'a>(value: &'a str, key: &str, default_key: &str) -> Option<&'a str> {
    value
        .split(',')
        .enumerate()
        .find_map(|(i, part)| match part.split_once('=') {
            Some((k, v)) if k == key => Some(v),
            None if i == 0 && key == default_key => Some(part),
            _ => None,
        })
}

/// The firewall rules `g` should have, top first, as the API lists them.
fn wanted_rules(g: &Guest) -> Vec<Vec<(&'static str, String)>> {
    let mut out: Vec<Vec<(&'static str, String)>> = Vec::new();
    if !g.firewall.enabled {
        return out;
    }
    for r in &g.firewall.rules {
        let mut fields = vec![
            ("type", r.direction.as_str().to_string()),
            ("action", r.action.as_str().to_string()),
            ("enable", "1".to_string()),
        ];
        for (k, v) in [
            ("source", &r.source),
            ("dest", &r.dest),
            ("proto", &r.proto),
            ("dport", &r.port),
            ("comment", &r.comment),
        ] {
            fields.extend(v.clone().map(|v| (k, v)));
        }
        fields.sort();
        if !out.contains(&fields) {
            out.push(fields);
        }
    }
    out
}

/// Every guest of the definitions in `defs` is on the host as defined.
fn assert_as_defined(h: &Host, defs: &Path) {
    let loaded = phoenix::pipeline::load(defs, Severity::Error);
    let state = h.pve.stand_in_state();
    for g in loaded.defs.guests.values() {
        let on_host = &state["guests"][g.id.to_string()];
        let what = g.label();
        assert!(on_host.is_object(), "{what} was not made");
        let config = &on_host["config"];
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        // Stamped as built, with the user's tags kept.
        let tags = text(&config["tags"]);
        assert!(tags.contains("phx-built-"), "{what}: tags {tags}");
        assert!(!tags.contains("phx-building"), "{what}: tags {tags}");
        let name_key = if g.kind == GuestKind::Ct {
            "hostname"
        } else {
            "name"
        };
        assert_eq!(text(&config[name_key]), g.name, "{what}");
        // Firewall: exactly the defined rules, in order, enabled.
        let rules: Vec<Vec<(&'static str, String)>> = on_host["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let mut fields: Vec<(&'static str, String)> = [
                    "type", "action", "enable", "source", "dest", "proto", "dport", "comment",
                ]
                .into_iter()
                .filter_map(|k| r.get(k).map(|v| (k, text(v))))
                .collect();
                fields.sort();
                fields
            })
            .collect();
        assert_eq!(rules, wanted_rules(g), "{what}: firewall rules");
        let enabled = on_host["firewall"]["enable"].as_i64() == Some(1);
        if g.firewall.defined {
            assert_eq!(enabled, g.firewall.enabled, "{what}: firewall switch");
        }
        // Devices: exactly the GPU nodes it is given, each once.
        if g.kind == GuestKind::Ct {
            let mut devices: Vec<String> = config
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| {
                    k.strip_prefix("dev")
                        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
                })
                .map(|(_, v)| prop(&text(v), "path", "path").unwrap().to_string())
                .collect();
            devices.sort();
            let mut want = g.devices.gpu_device_paths();
            want.sort();
            assert_eq!(devices, want, "{what}: devices");
        }
        // Templates are stopped (a converted one is a template); a container
        // cloned from a converted template is linked to it (a VM clone is full).
        if g.template.is_template() {
            assert_eq!(on_host["status"], "stopped", "{what} is a template");
        }
        if g.template == TemplateModel::Converted {
            assert_eq!(text(&config["template"]), "1", "{what} is converted");
        }
        if let Some((source, _)) = &g.clone_from
            && g.kind == GuestKind::Ct
            && loaded.defs.guest(*source).map(|s| &s.template) == Some(&TemplateModel::Converted)
        {
            assert_eq!(
                on_host["linked_from"],
                Value::from(source.to_string()),
                "{what} is a linked clone of {source}"
            );
        }
        // Its interfaces, the second one included.
        if g.kind == GuestKind::Ct {
            assert_eq!(
                config.get("net1").is_some(),
                g.net1.is_some(),
                "{what}: net1 {}",
                config["net1"]
            );
        }
        assert!(
            on_host
                .get("pending")
                .is_none_or(|p| p.as_object().is_none_or(serde_json::Map::is_empty)),
            "{what} has pending changes: {}",
            on_host["pending"]
        );
    }
}

/// Replay the dry run of `build all` on `h`'s definitions, and check the host it
/// leaves.
fn replays_to_the_definitions(h: Option<Host>) {
    let Some(h) = h else { return };
    let cmds = dry_run(&h, &["all".to_string()]);
    let skipped = replay(&h, &cmds);
    assert!(
        skipped < cmds.len() / 2,
        "{skipped} of {} lines skipped",
        cmds.len()
    );
    assert_as_defined(&h, &h.defs);
}

#[test]
fn fixture_2025_09_dry_run_replays_to_the_definitions() {
    replays_to_the_definitions(fixture_host("phoenix-2025-09"));
}

#[test]
fn fixture_2025_11_dry_run_replays_to_the_definitions() {
    replays_to_the_definitions(fixture_host("phoenix-2025-11"));
}

#[test]
fn fixture_2025_11_templates_dry_run_replays_to_the_definitions() {
    replays_to_the_definitions(fixture_host("phoenix-2025-11-templates"));
}

#[test]
fn bundled_dry_run_replays_to_the_definitions() {
    replays_to_the_definitions(super::host());
}
