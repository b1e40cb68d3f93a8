//! Containers on the stand-in host: a full build and a no-op rebuild, retries and
//! resume, hostile values, raw `lxc_options` lines.

use std::path::Path;

use super::host;
use crate::helpers::{Site, set_field, update_json};

#[test]
fn builds_through_the_real_backend_code_and_a_second_build_runs_nothing() {
    let Some(h) = host() else { return };
    let out = h.build(&["all"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let s = out.summary();
    for (node, outcome) in s["nodes"].as_object().unwrap() {
        assert_eq!(outcome, "built", "{node}");
    }
    h.pve.assert_no_violations();
    let cmds = h.pve.commands();
    let has = |want: &[&str]| {
        cmds.iter()
            .any(|c| c.iter().map(String::as_str).collect::<Vec<_>>() == want)
    };
    assert!(has(&[
        "pct",
        "clone",
        "920",
        "950",
        "--snapname",
        "vllm-snapshot",
        "--hostname",
        "vllm-demo",
        "--full",
        "1",
        "--storage",
        "local-lvm"
    ]));
    assert!(has(&["qm", "template", "9000"]));
    assert!(
        cmds.iter().any(|c| c[0] == "qm"
            && c[1] == "guest"
            && c.last()
                .is_some_and(|x| x.rsplit('.').next() == Some("exit"))),
        "VM features are polled"
    );

    let before = h.pve.commands().len();
    let out = h.build(&["all"]);
    assert_eq!(out.summary()["steps_run"], 0);
    h.pve.assert_only_inventory_since(before);
    let after = h.pve.commands();

    // A memory change: one `pct set` for 950 and its firewall, nothing else.
    set_field(&h.defs, "950", "memory_mb", serde_json::json!(1536));
    let out = h.build(&["all"]);
    assert_eq!(out.summary()["steps_run"], 1);
    let all = h.pve.commands();
    let new: Vec<&Vec<String>> = all[after.len()..].iter().collect();
    assert!(
        new.iter().any(|c| c[0] == "pct"
            && c[1] == "set"
            && c[2] == "950"
            && c.contains(&"1536".to_string())),
        "{new:?}"
    );
    assert!(
        new.iter()
            .all(|c| c.get(2).is_none_or(|id| id == "950" || c[0] == "pvesh")),
        "{new:?}"
    );
    h.pve.assert_no_violations();

    // Feature flags on a running container stay pending until it starts again
    // (pve-container vmconfig_hotplug_pending): phoenix restarts it once and says so.
    set_field(
        &h.defs,
        "950",
        "pct_options",
        serde_json::json!(["nesting=1"]),
    );
    let before = h.pve.commands().len();
    let out = h.build(&["all"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let detail = out.finished("ct:950")["detail"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        detail.contains("restarted to apply features"),
        "{}",
        out.stdout
    );
    let new = &h.pve.commands()[before..];
    assert!(
        new.iter()
            .any(|c| c[..2] == ["pct", "reboot"] && c[2] == "950"),
        "{new:?}"
    );
    let state = h.pve.stand_in_state();
    let ct = &state["guests"]["950"];
    assert!(
        ct.get("pending")
            .is_none_or(|p| p.as_object().is_none_or(serde_json::Map::is_empty)),
        "nothing left pending: {ct}"
    );
    assert_eq!(ct["config"]["features"], "nesting=1", "{ct}");
}

#[test]
fn a_lock_error_is_retried_and_a_failure_resumes() {
    let Some(h) = host() else { return };
    // Two lock errors on 103's clone (retried), one failure of a command in 101.
    std::fs::write(
        h.pve.state.join("fail"),
        "lock:pct clone 900 103 2\npct exec 101 -- env 1\n",
    )
    .unwrap();
    let out = h.build(&["all"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let s = out.summary();
    assert_eq!(s["nodes"]["ct:103"], "built", "the lock error was retried");
    assert_eq!(s["nodes"]["ct:101"], "failed");
    assert_eq!(s["nodes"]["ct:102"], "skipped");
    assert_eq!(s["nodes"]["ct:950"], "built");
    let out = h.build(&["all"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.summary()["nodes"]["ct:102"], "built");
    let clones_of_101 = h
        .pve
        .commands()
        .iter()
        .filter(|c| c[..2] == ["pct", "clone"] && c[3] == "101")
        .count();
    assert_eq!(clones_of_101, 1, "101 resumed, it was not cloned again");
    h.pve.assert_no_violations();
}

#[test]
fn hostile_values_reach_the_guest_as_data() {
    let Some(h) = host() else { return };
    // A newline is refused by `validate` (it cannot go into a command line):
    // everything else a shell would act on travels as one argument.
    let hostile = "'; rm -rf / $(touch /tmp/phoenix-pwned) \"q\" `id` & second part";
    set_field(
        &h.defs,
        "103",
        "bootstrap_ca_url",
        serde_json::json!(hostile),
    );
    std::fs::write(
        h.defs.join("features/lxc/base_setup.sh"),
        "#!/bin/sh\necho \"$2\"\n",
    )
    .unwrap();
    let out = h.build(&["103"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let exec = h
        .pve
        .commands()
        .into_iter()
        .find(|c| {
            c[..3] == ["pct", "exec", "103"] && c.iter().any(|a| a.ends_with("base_setup.sh"))
        })
        .unwrap();
    assert_eq!(
        exec.last().unwrap(),
        hostile,
        "the value is one argument, unchanged"
    );
    assert!(!Path::new("/tmp/phoenix-pwned").exists());
}

/// Raw `lxc_options` lines: written to the main section of the config file only
/// (never into a snapshot section, where they would silently not apply), exactly
/// the container's own list (a clone's inherited lines replaced), and taken out
/// again when the definition drops them.
#[test]
fn raw_lxc_lines_follow_the_definitions_in_the_main_section_only() {
    let Some(h) = host() else { return };
    set_field(
        &h.defs,
        "900",
        "lxc_options",
        serde_json::json!(["lxc.apparmor.profile=unconfined"]),
    );
    set_field(
        &h.defs,
        "103",
        "lxc_options",
        serde_json::json!(["lxc.mount.auto:sys:rw"]),
    );
    let out = h.build(&["103"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let conf = |id: &str| {
        std::fs::read_to_string(h.pve.root().join(format!("etc/pve/lxc/{id}.conf"))).unwrap()
    };
    let main = |id: &str| conf(id).split("\n[").next().unwrap().to_string();
    let raw = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("lxc."))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(raw(&main("900")), ["lxc.apparmor.profile: unconfined"]);
    let c900 = conf("900");
    let snapshot = c900
        .split("\n[")
        .nth(1)
        .expect("900 has its template snapshot");
    assert!(
        snapshot.contains("lxc.apparmor.profile: unconfined"),
        "the snapshot was taken after the hardware config:\n{c900}"
    );
    assert_eq!(
        raw(&main("103")),
        ["lxc.mount.auto: sys:rw"],
        "103's own list, not the line its clone source has:\n{}",
        conf("103")
    );

    // The definition drops the list: the line goes; 900's snapshot is untouched.
    update_json(&h.defs.join("phoenix_lxc_configs.json"), |v| {
        v["lxc_configs"]["103"]
            .as_object_mut()
            .unwrap()
            .remove("lxc_options");
    });
    let out = h.build(&["103"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.summary()["nodes"]["ct:103"], "updated");
    assert!(raw(&main("103")).is_empty(), "{}", conf("103"));
    assert_eq!(conf("900"), c900);
    h.pve.assert_no_violations();
}

/// An installed shell tool's container feature scripts (`bin/lxc_setup/`) run on
/// the host with the CTID, as the shell tool ran them, through their own `#!`
/// line; they find the guest's definition in a host file named by
/// `PHOENIX_GUEST_JSON` (not the path inside the guest), the definitions' files by
/// `PHOENIX_LXC_JSON` and friends, and the guest's id and name in the environment.
#[test]
fn legacy_feature_scripts_run_on_the_host_with_the_guest_definition() {
    let Some(src) = crate::helpers::fixture("phoenix-2025-09") else {
        return;
    };
    let site = Site::empty();
    let etc = site.defs.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    for file in ["phoenix_lxc_configs.json", "phoenix_hypervisor_config.json"] {
        std::fs::copy(src.join(file), etc.join(file)).unwrap();
    }
    crate::helpers::write_missing_scripts(&site.defs);
    std::fs::create_dir_all(site.defs.join("features/host")).unwrap();
    let seen = site.path().join("seen");
    std::fs::write(
        site.defs
            .join("bin/lxc_setup/phoenix_hypervisor_feature_install_base_setup.sh"),
        format!(
            "#!/bin/bash\n[[ $# -eq 2 ]] || exit 9\n{{ echo \"$1 $PHOENIX_GUEST_ID $PHOENIX_GUEST_NAME\"; cat \"$PHOENIX_GUEST_JSON\"; }} > {seen}\n\
             grep -q '\"lxc_configs\"' \"$PHOENIX_LXC_JSON\" || exit 8\n",
            seen = seen.display()
        ),
    )
    .unwrap();
    let Some(h) = super::host_on(site) else {
        return;
    };
    super::fixtures::seed(&h, &h.defs.join("etc/phoenix_hypervisor_config.json"));
    let out = h.build(&["900"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let seen = std::fs::read_to_string(&seen).expect("the feature script ran on the host");
    let (head, json) = seen.split_once('\n').unwrap();
    let guest: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(head, format!("900 900 {}", guest["name"].as_str().unwrap()));
    assert_eq!(guest["id"], 900);
    assert_eq!(guest["features"][0], "base_setup");
    // Nothing of it went into the guest.
    assert!(
        !h.pve.commands().iter().any(|c| c[..2] == ["pct", "push"]),
        "{:?}",
        h.pve.commands()
    );
}
