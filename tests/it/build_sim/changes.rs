//! What a change of the definitions rebuilds, and the consent a replacement needs.

use serde_json::json;

use super::tree;
use crate::helpers::set_field;

#[test]
fn replacing_a_guest_needs_allow_replace() {
    let t = tree();
    t.build(&["all"]).success();
    let ops_before = t.ops().len();
    set_field(&t.defs, "910", "storage_pool", json!("fast-pool"));
    let out = t.build(&["all"]).code(1);
    assert!(
        out.stderr
            .contains("ct:910 (svc-a): define: storage_pool local-lvm → fast-pool"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--allow-replace"));
    assert_eq!(
        t.ops().len(),
        ops_before,
        "nothing may be touched before the guard"
    );
    let out = t.build(&["all", "--allow-replace"]).success();
    assert_eq!(out.summary()["nodes"]["ct:910"], "built");
    assert_eq!(out.steps_of("ct:910")[0], "define");
    assert!(
        out.steps_of("ct:920").is_empty(),
        "a depends edge carries no content"
    );
}

#[test]
fn memory_change_runs_only_configure() {
    let t = tree();
    t.build(&["all"]).success();
    set_field(&t.defs, "920", "memory_mb", json!(1024));
    let out = t.build(&["all"]).success();
    assert_eq!(out.summary()["steps_run"], 1);
    assert_eq!(out.summary()["nodes"]["ct:920"], "updated");
    assert_eq!(out.steps_of("ct:920"), ["configure"]);
}

#[test]
fn template_feature_change_rolls_back_and_rebuilds_its_clones() {
    let t = tree();
    t.build(&["all"]).success();
    std::fs::write(
        t.defs.join("features/lxc/gpu.sh"),
        "#!/bin/sh\necho gpu v2\n",
    )
    .unwrap();
    let out = t.build(&["all", "--allow-replace"]).success();
    assert_eq!(
        out.steps_of("ct:901"),
        [
            "rollback:pre-gpu",
            "start",
            "feature:gpu",
            "snapshot",
            "stop"
        ],
        "a template stops once its snapshot is taken"
    );
    assert_eq!(
        out.steps_of("ct:910")[0],
        "define",
        "910 is cloned again from the new snapshot"
    );
    assert!(out.steps_of("ct:902").is_empty() && out.steps_of("ct:920").is_empty());
}

/// A VM template, once `qm template` converted it, can neither start nor roll back:
/// a change to its features makes it again (no consent needed for a template),
/// and its clone, which is not a template, is replaced only with consent.
#[test]
fn a_converted_vm_template_is_made_again_not_resumed() {
    let t = tree();
    std::fs::create_dir_all(t.defs.join("features/vm")).unwrap();
    std::fs::write(
        t.defs.join("features/vm/tools.sh"),
        "#!/bin/sh\necho tools\n",
    )
    .unwrap();
    let vms = json!({"vm_defaults": {"cores": 1, "memory_mb": 1024, "storage_pool": "local-lvm"},
    "vms": [
        {"vmid": 9000, "name": "tmpl", "is_template": true, "template_image": "img.qcow2", "features": ["tools"]},
        {"vmid": 1001, "name": "worker", "clone_from_vmid": 9000}
    ]});
    std::fs::write(
        t.defs.join("phoenix_vm_configs.json"),
        serde_json::to_string_pretty(&vms).unwrap(),
    )
    .unwrap();
    t.build(&["all"]).success();
    std::fs::write(
        t.defs.join("features/vm/tools.sh"),
        "#!/bin/sh\necho tools v2\n",
    )
    .unwrap();
    let out = t.build(&["all"]).code(1);
    assert!(
        out.stderr.contains("vm:1001 (worker)") && !out.stderr.contains("vm:9000 (tmpl)"),
        "{}",
        out.stderr
    );
    let out = t.build(&["all", "--allow-replace"]).success();
    assert_eq!(out.steps_of("vm:9000")[0], "define", "{}", out.stdout);
    assert_eq!(out.steps_of("vm:1001")[0], "define");
}

#[test]
fn force_rebuilds_a_fresh_guest_and_dry_run_runs_nothing() {
    let t = tree();
    let out = t.build(&["all", "--dry-run"]).success();
    assert!(t.ops().is_empty(), "dry run ran something");
    assert!(
        out.stdout.contains("\"action\": \"create\""),
        "{}",
        out.stdout
    );
    t.build(&["all"]).success();
    let out = t.build(&["all", "--force", "902"]).success();
    assert_eq!(out.steps_of("ct:902")[0], "define");
    assert!(out.steps_of("ct:901").is_empty());
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path)
            .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        {
            found.push(path);
        }
    }
    found
}

/// Secrets in application fields (GitHub issue 15): a `passwd`, a key under
/// credentials and a `NAME=value` assignment reach neither the state directory nor
/// the plan's reasons, and changing one still re-runs the application step.
#[test]
fn secrets_stay_out_of_the_state_and_the_plan() {
    let t = tree();
    let app_fields = |n: u8| {
        json!({
            "environment": [format!("DB_PASSWORD=hunter{n}"), "DB_HOST=db"],
            "root_passwd": format!("swordfish{n}"),
            "credentials": {"registry_key": format!("opensesame{n}")},
        })
    };
    let set = |n: u8| {
        for (k, v) in app_fields(n).as_object().unwrap() {
            set_field(&t.defs, "910", k, v.clone());
        }
    };
    set(1);
    t.build(&["all"]).success();
    for secret in ["hunter1", "swordfish1", "opensesame1"] {
        assert_eq!(
            files_containing(&t.cache, secret),
            Vec::<std::path::PathBuf>::new(),
            "{secret} is in the state directory"
        );
    }
    set(2);
    let out = t.phoenix().args(["plan", "910"]).run().success();
    assert!(
        out.stdout.contains("DB_PASSWORD=<redacted "),
        "{}",
        out.stdout
    );
    for secret in ["hunter", "swordfish", "opensesame"] {
        assert!(!out.stdout.contains(secret), "{}", out.stdout);
    }
    let out = t.build(&["all"]).success();
    assert_eq!(out.steps_of("ct:910"), ["start", "app"]);
}
