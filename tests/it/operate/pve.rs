//! `stop` on the pve backend through the stand-ins (`tests/standin`): `pct` and
//! `qm shutdown` with `--timeout` and, with `--force`, `--forceStop 1`; a guest
//! that ignores its shutdown fails without `--force` and keeps running, and so
//! does what it depends on. The command lines of both kinds are checked against
//! the Proxmox API schema.

use phoenix::backend::pve::power;
use phoenix::defs::Severity;
use std::time::Duration;

use super::outcome;
use crate::helpers::{Site, bundled_defs, shared};
use crate::pve_standin::stage;
use crate::schema::Schema;

#[test]
fn shutdown_command_lines_are_valid_for_both_kinds() {
    let Some(shared) = shared() else { return };
    let schema = Schema::load(&shared.join("proxmox/pve-api-schema.json")).unwrap();
    let loaded = phoenix::pipeline::load(&bundled_defs(), Severity::Warning);
    let mut kinds = std::collections::BTreeSet::new();
    for g in loaded.defs.guests.values() {
        for force in [false, true] {
            let cmd = power::shutdown(g, Duration::from_secs(45), force);
            assert_eq!(
                schema.check(&cmd),
                Vec::<String>::new(),
                "{}",
                cmd.display()
            );
            kinds.insert(cmd.argv[0].clone());
        }
    }
    assert_eq!(kinds.len(), 2, "pct and qm: {kinds:?}");
}

/// A guest phoenix built as the stand-ins keep it: running, stamped with its tags.
fn built(kind: &str, name: &str) -> serde_json::Value {
    let key = if kind == "lxc" { "hostname" } else { "name" };
    serde_json::json!({
        "type": kind, "status": "running", "snapshots": [], "files": {},
        "config": { key: name, "tags": format!("phoenix;phx-built-{}", "ab".repeat(16)) }
    })
}

#[test]
fn a_guest_that_ignores_its_shutdown_fails_unless_forced() {
    let Some(shared) = shared() else { return };
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 is needed"
        );
        eprintln!("SKIPPED: python3 not found; the pve stand-ins need it");
        return;
    }
    let site = Site::bundled();
    let pve = stage(&site);
    let path = format!(
        "{}:{}",
        pve.bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let site = site
        .backend(["--backend", "pve"])
        .env("PATH", path)
        .env("PHOENIX_STANDIN_DIR", &pve.state)
        .env(
            "PHOENIX_STANDIN_SCHEMA",
            shared.join("proxmox/pve-api-schema.json"),
        )
        .env("PHOENIX_PVE_IMAGE_DIR", &pve.images)
        .env("PHOENIX_PVE_ROOT", pve.root())
        .env("PHOENIX_RETRY_BACKOFF_MS", "10");
    // 103, and the VM 1001, which depends on it; 1001 ignores its shutdown.
    let mut vm = built("qemu", "vm-worker");
    vm["ignores_shutdown"] = true.into();
    pve.set_stand_in_state(
        "guests",
        serde_json::json!({ "103": built("lxc", "ca"), "1001": vm }),
    );
    let stop = |extra: &[&str]| {
        site.phoenix()
            .args(["stop", "103", "--timeout", "5", "--output", "json"])
            .args(extra)
            .run()
    };
    let status = |id: &str| pve.stand_in_state()["guests"][id]["status"].clone();
    let out = stop(&[]).code(1);
    assert_eq!(outcome(&out, "vm:1001"), "failed");
    let why = out.finished("vm:1001")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.contains("did not stop within 5s and was left running"),
        "{why}"
    );
    assert!(why.contains("got timeout"), "Proxmox's own words: {why}");
    // Not taken for a lock: asked once.
    let asked = |cmds: &[Vec<String>]| {
        cmds.iter()
            .filter(|c| c.get(1).map(String::as_str) == Some("shutdown"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        asked(&pve.commands()),
        [vec!["qm", "shutdown", "1001", "--timeout", "5"]]
    );
    // 103 is what 1001 needs: left running.
    assert_eq!(outcome(&out, "ct:103"), "skipped");
    assert_eq!(
        (status("1001"), status("103")),
        ("running".into(), "running".into())
    );

    let before = pve.commands().len();
    let out = stop(&["--force"]).success();
    assert_eq!(outcome(&out, "vm:1001"), "stopped");
    assert_eq!(outcome(&out, "ct:103"), "stopped");
    assert_eq!(
        asked(&pve.commands()[before..]),
        [
            vec![
                "qm",
                "shutdown",
                "1001",
                "--timeout",
                "5",
                "--forceStop",
                "1"
            ],
            vec![
                "pct",
                "shutdown",
                "103",
                "--timeout",
                "5",
                "--forceStop",
                "1"
            ],
        ]
    );
    assert_eq!(
        (status("1001"), status("103")),
        ("stopped".into(), "stopped".into())
    );
    // Stopped already: nothing more is asked of Proxmox (whose shutdown refuses a
    // stopped container).
    let n = pve.commands().len();
    let out = stop(&[]).success();
    assert_eq!(outcome(&out, "ct:103"), "unchanged");
    assert!(asked(&pve.commands()[n..]).is_empty());
    pve.assert_no_violations();
}
