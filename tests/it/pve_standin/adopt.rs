//! `phoenix adopt` and drift on the pve backend, through the stand-in host and
//! the command line: guests the shell tool built (reference §2.1) are adopted and
//! the next build changes exactly what differs, one guest whose definition names
//! another OS template is refused; a memory change and a deleted firewall rule
//! made behind phoenix's back are shown by `status --live`, restored by `build
//! --refresh` and left by `--keep-drift`.

use serde_json::{Value, json};

use super::observe::shell_tool_build;
use super::{Host, host};
use crate::helpers::update_json;

/// Run a stand-in command that must succeed.
fn ok(h: &Host, argv: &[&str]) {
    let out = h.pve.run(argv);
    assert!(
        out.status.success(),
        "{}: {}",
        argv.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn guest(h: &Host, id: u32) -> Value {
    h.pve.stand_in_state()["guests"][id.to_string()].clone()
}

fn rules(h: &Host, id: u32) -> usize {
    let out = h.pve.run(&[
        "pvesh",
        "get",
        &format!("/nodes/pve/lxc/{id}/firewall/rules"),
        "--output-format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array().unwrap().len()
}

#[test]
fn guests_the_shell_tool_built_are_adopted_and_one_of_another_os_is_refused() {
    let Some(h) = host() else { return };
    // A container of its own, made from an Ubuntu template by the shell tool.
    update_json(&h.defs.join("phoenix_lxc_configs.json"), |v| {
        let mut g = v["lxc_configs"]["900"].clone();
        g["name"] = json!("ubuntu-box");
        g["template"] = json!("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst");
        g["network_config"]["ip"] = json!("10.0.3.160/24");
        g["mac_address"] = json!("52:54:00:00:09:60");
        g.as_object_mut().unwrap().remove("template_snapshot_name");
        g.as_object_mut().unwrap().remove("features");
        v["lxc_configs"]["960"] = g;
    });
    for id in [950, 103, 960] {
        shell_tool_build(&h.pve, &h.defs, id);
    }
    ok(&h, &["pct", "set", "950", "--memory", "2048"]);
    // Its definition now says Debian: the guest on the host is not that one.
    update_json(&h.defs.join("phoenix_lxc_configs.json"), |v| {
        v["lxc_configs"]["960"]["template"] =
            json!("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst");
    });

    let out = h
        .phoenix()
        .args(["adopt", "950", "103", "960", "--yes"])
        .run()
        .code(1);
    let line = |node: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(node) && l.contains("): "))
            .unwrap_or_else(|| panic!("{node}:\n{}", out.stdout))
            .to_string()
    };
    let refused = line("ct:960");
    assert!(
        refused.contains("refused")
            && refused.contains("ostype: the host has ubuntu, the definition debian"),
        "{refused}"
    );
    for node in ["ct:900", "ct:901", "ct:920", "ct:950", "ct:103"] {
        assert!(line(node).ends_with(": adopt"), "{}", out.stdout);
        assert!(
            out.stdout.contains(&format!("{node}: adopted")),
            "{}",
            out.stdout
        );
    }
    h.pve.assert_no_violations();

    // The next build of the adopted guests: their differences, nothing else.
    let out = h.build(&["950", "103"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.summary()["steps_run"], 2, "{}", out.stdout);
    assert_eq!(out.steps_of("ct:950"), ["configure"]);
    // The shell tool never switches a container's own firewall on (§2.1 step 5).
    assert_eq!(out.steps_of("ct:103"), ["configure"]);
    assert_eq!(guest(&h, 950)["config"]["memory"], "1024");
    h.pve.assert_no_violations();
    let before = h.pve.commands().len();
    let out = h.build(&["950", "103"]);
    assert_eq!(out.summary()["steps_run"], 0, "{}", out.stdout);
    h.pve.assert_only_inventory_since(before);
    // 960 stays another tool's.
    let plan = h.plan(&["960"]);
    assert_eq!(plan["foreign"], json!(["ct:960"]), "{plan}");
}

#[test]
fn drift_behind_phoenixs_back_is_shown_restored_or_kept() {
    let Some(h) = host() else { return };
    let out = h.build(&["950", "103"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let defined_rules = rules(&h, 103);
    assert_eq!(defined_rules, 1);
    ok(&h, &["pct", "set", "950", "--memory", "8192"]);
    ok(
        &h,
        &["pvesh", "delete", "/nodes/pve/lxc/103/firewall/rules/0"],
    );

    let status = h.phoenix().args(["status", "--live"]).run().success();
    let has = |node: &str, words: &[&str]| {
        status
            .stdout
            .lines()
            .any(|l| l.starts_with(node) && words.iter().all(|w| l.contains(w)))
    };
    assert!(
        has("ct:950", &["memory_mb (memory)", "1024", "8192"]),
        "{}",
        status.stdout
    );
    assert!(
        has("ct:103", &["firewall (rule 1)", "(none)"]),
        "{}",
        status.stdout
    );

    let kept = h.build(&["950", "103", "--refresh", "--keep-drift"]);
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    assert_eq!(kept.summary()["steps_run"], 0, "{}", kept.stdout);
    assert!(
        kept.stderr.contains("ct:950 changed outside phoenix"),
        "{}",
        kept.stderr
    );
    assert!(
        kept.stderr.contains("ct:103 changed outside phoenix"),
        "{}",
        kept.stderr
    );
    assert_eq!(guest(&h, 950)["config"]["memory"], "8192");
    assert_eq!(rules(&h, 103), 0);

    let out = h.build(&["950", "103", "--refresh"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.steps_of("ct:950"), ["configure"]);
    assert_eq!(out.steps_of("ct:103"), ["configure"]);
    assert_eq!(out.summary()["steps_run"], 2, "{}", out.stdout);
    assert_eq!(guest(&h, 950)["config"]["memory"], "1024");
    assert_eq!(rules(&h, 103), defined_rules);
    h.pve.assert_no_violations();
    let status = h.phoenix().args(["status", "--live"]).run().success();
    assert!(status.stdout.contains("no drift"), "{}", status.stdout);
}
