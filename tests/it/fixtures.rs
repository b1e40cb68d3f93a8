//! The shell tool's real definition files: they load unchanged, in either layout,
//! and their graphs are right (plans against recorded state: `fixture_plans.rs`).
//! The bundled definitions (`graph-defs/`) are clean: no warning on any command.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::helpers::{Site, bundled_defs, defs_with_scripts, edit, fixture, phoenix, set_field};

fn edges(defs: &Path) -> BTreeSet<(String, String, String)> {
    let g = phoenix()
        .defs(defs)
        .args(["graph", "--format", "json"])
        .run()
        .success()
        .json();
    g["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_string(),
                e["to"].as_str().unwrap().to_string(),
                e["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_fixture_set_loads_unchanged() {
    for name in [
        "phoenix-2025-09",
        "phoenix-2025-11",
        "phoenix-2025-11-templates",
    ] {
        let Some(dir) = fixture(name) else { return };
        // As they are (JSON only): graph draws them, warning about the missing scripts.
        let out = phoenix().defs(&dir).args(["graph"]).run().success();
        assert!(out.stderr.contains("warning"), "{name}: {}", out.stderr);
        assert!(out.stdout.contains("ct:900"), "{name}: {}", out.stdout);
        // validate names each missing script as an error, and nothing else.
        let out = phoenix().defs(&dir).args(["validate"]).run().code(3);
        for line in out.stderr.lines().filter(|l| l.starts_with("error:")) {
            assert!(
                line.contains("not found"),
                "{name}: unexpected error {line}"
            );
        }
        // With scripts beside a copy of the JSON, everything is valid: warnings only.
        let copy = defs_with_scripts(&dir);
        let out = phoenix()
            .defs(copy.path())
            .args(["validate"])
            .run()
            .success();
        assert!(out.stdout.starts_with("ok:"), "{}", out.stdout);
        assert!(!out.stderr.contains("error"), "{name}: {}", out.stderr);
    }
}

/// The newest set (`rootesting`, 2025-11-25): converted templates 900, 901 and 911,
/// 910 and 912 naming a template snapshot Proxmox cannot take, clones, a second interface,
/// `template_file` beside a clone source.
#[test]
fn fixture_2025_11_templates_has_the_reference_edges_and_template_models() {
    let Some(dir) = fixture("phoenix-2025-11-templates") else {
        return;
    };
    let e = edges(&dir);
    let guest_edges: BTreeSet<(String, String, String)> =
        e.iter().filter(|(_, _, k)| k != "host").cloned().collect();
    // Reference §6.2 (`35c465b`): 901<900, 910<901, 911<901, 912<911, 801/802<911,
    // 101/102/103<900, 914/917<901, and the files' `dependencies`.
    let clones = [
        ("ct:901", "ct:900"),
        ("ct:910", "ct:901"),
        ("ct:911", "ct:901"),
        ("ct:912", "ct:911"),
        ("ct:801", "ct:911"),
        ("ct:802", "ct:911"),
        ("ct:101", "ct:900"),
        ("ct:102", "ct:900"),
        ("ct:103", "ct:900"),
        ("ct:914", "ct:901"),
        ("ct:917", "ct:901"),
        ("vm:1001", "vm:9000"),
        ("vm:1002", "vm:9000"),
    ];
    let depends = [
        ("ct:101", "ct:103"),
        ("ct:102", "ct:101"),
        ("ct:801", "ct:103"),
        ("ct:801", "vm:1002"),
        ("ct:802", "vm:1002"),
        ("ct:901", "vm:1002"),
        ("ct:910", "ct:103"),
        ("ct:911", "ct:103"),
        ("ct:912", "ct:103"),
        ("ct:914", "vm:1002"),
        ("ct:917", "vm:1002"),
        ("vm:1001", "ct:102"),
        ("vm:1002", "vm:1001"),
    ];
    let expected: BTreeSet<(String, String, String)> = clones
        .iter()
        .map(|(f, t)| (*f, *t, "clone"))
        .chain(depends.iter().map(|(f, t)| (*f, *t, "depends")))
        .map(|(f, t, k)| (f.to_string(), t.to_string(), k.to_string()))
        .collect();
    assert_eq!(guest_edges, expected);

    // Which templates are converted and which snapshot, and what the 2025-11 fields
    // became.
    let (defs, diags) = phoenix::defs::load(&dir);
    let model = |id| defs.guest(id).unwrap().template.clone();
    for id in [900, 901, 911] {
        assert_eq!(
            model(id),
            phoenix::defs::TemplateModel::Converted,
            "ct:{id}"
        );
    }
    // 910 and 912 name `final-form`, but have a bind mount Proxmox cannot
    // snapshot and nothing clones them: plain containers, with a warning.
    for id in [910, 912] {
        assert_eq!(model(id), phoenix::defs::TemplateModel::None, "ct:{id}");
        assert!(
            diags.0.iter().any(|d| !d.is_error()
                && d.path == format!("lxc_configs.{id}.template_snapshot_name")
                && d.message.contains("built as a plain container")),
            "ct:{id}: {diags:?}"
        );
    }
    let g101 = defs.guest(101).unwrap();
    let net1 = g101.net1.as_ref().unwrap();
    assert_eq!(net1.bridge.as_deref(), Some("vmbr100"));
    assert_eq!(net1.mac.as_deref(), Some("02:00:00:00:01:02"));
    assert_eq!(g101.net.ip, Some(phoenix::defs::IpConfig::Dhcp));
    assert_eq!(g101.net.mac.as_deref(), Some("02:00:00:00:01:01"));
    assert_eq!(g101.shape.template_storage, None, "101 is a clone");
    let warnings: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    assert!(
        warnings.iter().any(|w| w.contains(
            "lxc_configs.101.template_file: `template_file` is not used: the container is cloned"
        )),
        "{warnings:#?}"
    );
    assert!(
        !warnings
            .iter()
            .any(|w| w.contains("unknown field `template_file`")),
        "{warnings:#?}"
    );
}

#[test]
fn fixture_2025_11_has_the_reference_edges() {
    let Some(dir) = fixture("phoenix-2025-11") else {
        return;
    };
    let e = edges(&dir);
    let has = |from: &str, to: &str, kind: &str| {
        e.contains(&(from.to_string(), to.to_string(), kind.to_string()))
    };
    // Reference §5.2: 101→900,103 · 102→900,103 · 103→900 · 801/802→911,1002 · 901→900,1002 ·
    // 910/911/912→901 · 914/917→901,1002 · 1001→9000,102 · 1002→9000,1001.
    let expected = [
        ("ct:101", "ct:900", "clone"),
        ("ct:101", "ct:103", "depends"),
        ("ct:102", "ct:900", "clone"),
        ("ct:102", "ct:103", "depends"),
        ("ct:103", "ct:900", "clone"),
        ("ct:801", "ct:911", "clone"),
        ("ct:801", "vm:1002", "depends"),
        ("ct:802", "ct:911", "clone"),
        ("ct:802", "vm:1002", "depends"),
        ("ct:901", "ct:900", "clone"),
        ("ct:901", "vm:1002", "depends"),
        ("ct:910", "ct:901", "clone"),
        ("ct:911", "ct:901", "clone"),
        ("ct:912", "ct:901", "clone"),
        ("ct:914", "ct:901", "clone"),
        ("ct:914", "vm:1002", "depends"),
        ("ct:917", "ct:901", "clone"),
        ("ct:917", "vm:1002", "depends"),
        ("vm:1001", "vm:9000", "clone"),
        ("vm:1001", "ct:102", "depends"),
        ("vm:1002", "vm:9000", "clone"),
        ("vm:1002", "vm:1001", "depends"),
    ];
    for (from, to, kind) in expected {
        assert!(has(from, to, kind), "missing edge {from} -> {to} ({kind})");
    }
    let guest_edges: Vec<_> = e.iter().filter(|(_, _, k)| k != "host").collect();
    assert_eq!(
        guest_edges.len(),
        expected.len(),
        "unexpected extra guest edges: {guest_edges:?}"
    );
    // Host edges: storage before guests, the GPU driver and device setup before GPU guests,
    // ZFS before NFS, the admin user before Samba.
    assert!(has("ct:901", "host:gpu_init", "host") && has("ct:901", "host:nvidia", "host"));
    assert!(!has("ct:103", "host:nvidia", "host"));
    assert!(has("ct:103", "host:zfs", "host"));
    assert!(
        has("host:nfs", "host:zfs", "host")
            && has("host:samba", "host:users", "host")
            && has("host:gpu_init", "host:nvidia", "host")
    );
    assert!(has("vm:1001", "host:nfs", "host"));
    // Guests whose resolver is the host (10.0.0.13) come after its DNS server;
    // the 9xx templates resolve elsewhere and do not.
    assert!(has("vm:1001", "host:dns", "host") && has("ct:103", "host:dns", "host"));
    assert!(
        !e.iter()
            .any(|(f, t, _)| f.starts_with("ct:9") && t == "host:dns")
    );
}

#[test]
fn legacy_layout_is_detected() {
    let Some(dir) = fixture("phoenix-2025-11") else {
        return;
    };
    let native = defs_with_scripts(&dir);
    let legacy = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(legacy.path().join("etc")).unwrap();
    for file in [
        "phoenix_lxc_configs.json",
        "phoenix_vm_configs.json",
        "phoenix_hypervisor_config.json",
    ] {
        std::fs::copy(dir.join(file), legacy.path().join("etc").join(file)).unwrap();
    }
    let out = phoenix()
        .defs(legacy.path())
        .args(["validate"])
        .run()
        .code(3);
    assert!(out.stderr.contains("etc/phoenix_lxc_configs.json: lxc_configs.900.features[0]: script `bin/lxc_setup/phoenix_hypervisor_feature_install_base_setup.sh` not found"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("bin/vm_features/feature_install_docker.sh"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("bin/hypervisor_setup/hypervisor_feature_setup_firewall.sh"),
        "{}",
        out.stderr
    );
    // ZFS and NFS are built in: their scripts (which wiped disks and swept
    // storages) are not needed and never run.
    assert!(
        !out.stderr.contains("hypervisor_feature_setup_zfs.sh")
            && !out.stderr.contains("hypervisor_feature_setup_nfs.sh"),
        "{}",
        out.stderr
    );
    crate::helpers::write_missing_scripts(legacy.path());
    let out = phoenix()
        .defs(legacy.path())
        .args(["validate"])
        .run()
        .success();
    assert!(out.stdout.contains("(legacy layout)"), "{}", out.stdout);
    assert_eq!(edges(legacy.path()), edges(native.path()));
}

#[test]
fn plan_refuses_missing_scripts_but_graph_draws() {
    let Some(dir) = fixture("phoenix-2025-09") else {
        return;
    };
    let out = phoenix().defs(&dir).args(["plan", "950"]).run().code(3);
    assert!(
        out.stderr.contains("features/lxc/vllm.sh"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
    phoenix().defs(&dir).args(["graph", "950"]).run().success();
}

#[test]
fn graph_formats_and_state() {
    let Some(site) = Site::fixture("phoenix-2025-09") else {
        return;
    };
    let run = |args: &[&str]| site.phoenix().args(args).run().success().stdout;

    let dot = run(&["graph", "--format", "dot"]);
    assert!(dot.starts_with("digraph phoenix {"));
    assert!(
        dot.contains("\"ct:920\" -> \"ct:950\" [label=\"clone\", style=bold"),
        "{dot}"
    );
    let mermaid = run(&["graph", "950", "--format", "mermaid"]);
    assert!(mermaid.starts_with("graph TD\n"));
    assert!(mermaid.contains("ct_920 ==>|clone| ct_950"), "{mermaid}");
    assert!(!mermaid.contains("ct_902"), "902 is not needed by 950");

    // Build only 920's chain, then change 950: 900/901/920 fresh, 950 missing.
    site.record_all_built();
    std::fs::remove_file(site.cache.join("nodes/ct-950.json")).unwrap();
    edit(
        &site.defs.join("phoenix_lxc_configs.json"),
        "\"memory_mb\": 2048",
        "\"memory_mb\": 4096",
    );
    let json: Value =
        serde_json::from_str(&run(&["graph", "950", "--format", "json", "--state"])).unwrap();
    let state = |id: &str| {
        json["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state("ct:950"), "missing");
    assert_eq!(state("ct:900"), "stale", "900's memory changed");
    assert_eq!(state("ct:920"), "fresh");
    let mermaid = run(&["graph", "950", "--format", "mermaid", "--state"]);
    assert!(
        mermaid.contains("class ct_950 missing") && mermaid.contains("class ct_900 stale"),
        "{mermaid}"
    );

    if std::process::Command::new("dot").arg("-V").output().is_ok() {
        let mut child = std::process::Command::new("dot")
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(dot.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("<svg"),
            "graphviz rejected the DOT"
        );
    } else {
        eprintln!("SKIPPED: graphviz `dot` not installed; DOT not rendered");
    }
}

/// What a newcomer runs first prints no warning: `validate`, `plan` and `graph` on the
/// bundled definitions are clean. Their own application setting (102's upstream) is
/// under `app_settings`, which phoenix knows.
#[test]
fn bundled_definitions_validate_with_no_warnings() {
    let defs = bundled_defs();
    let cache = tempfile::tempdir().unwrap();
    let out = phoenix()
        .defs(&defs)
        .cache(cache.path())
        .args(["validate"])
        .run()
        .success();
    assert!(out.stdout.starts_with("ok:"), "{}", out.stdout);
    assert_eq!(out.stderr, "", "validate printed diagnostics");
    let json = phoenix()
        .defs(&defs)
        .cache(cache.path())
        .args(["validate", "--output", "json"])
        .run()
        .success()
        .json();
    assert_eq!(json["valid"], true, "{json}");
    assert_eq!(json["diagnostics"], serde_json::json!([]), "{json}");
    for args in [&["plan", "all"][..], &["graph", "--format", "text"][..]] {
        let out = phoenix()
            .defs(&defs)
            .cache(cache.path())
            .args(args)
            .run()
            .success();
        assert!(!out.stderr.contains("warning"), "{args:?}: {}", out.stderr);
    }
}

/// `app_settings` is an application input like any unknown field: changing a value in
/// it reruns that guest's application script and touches nothing else; a value that is
/// not an object is an error naming the field.
#[test]
fn app_settings_rerun_the_app_and_must_be_an_object() {
    let site = Site::bundled();
    site.record_all_built();
    set_field(
        &site.defs,
        "102",
        "app_settings",
        serde_json::json!({ "upstream": "10.0.3.103" }),
    );
    let plan = site.plan(&["all"]);
    let actions = plan["actions"].as_array().unwrap();
    assert!(actions.len() >= 10, "{plan}");
    for a in actions {
        if a["node"] == "ct:102" {
            assert_eq!(a["action"], "rerun-app", "{a}");
            assert!(
                a["reasons"].to_string().contains("app_settings"),
                "the reason names the field: {a}"
            );
        } else {
            assert_eq!(a["action"], "fresh", "{a}");
        }
    }

    set_field(
        &site.defs,
        "102",
        "app_settings",
        "upstream=10.0.3.101".into(),
    );
    let out = site.phoenix().args(["validate"]).run().code(3);
    assert!(
        out.stderr.contains(
            "error: phoenix_lxc_configs.json: lxc_configs.102.app_settings: expected an object"
        ),
        "{}",
        out.stderr
    );
}
