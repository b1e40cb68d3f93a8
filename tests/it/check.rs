//! `phoenix check`: the definitions' health checks on demand. On the sim backend
//! with `--sim-exec` (the health scripts really run, on this machine, so a test
//! makes one pass or fail with a flag file it names): the table's rows and the
//! exit code, the JSON lines, a timeout, a stopped guest, a guest another tool
//! built, and the build still running the checks of what it builds. On real LXC:
//! one container with two checks, passing, then one made to fail.

use std::path::Path;

use serde_json::{Value, json};

use crate::build_sim::{SimSite, ct, site};
use crate::helpers::lxc::{BRIDGE, GATEWAY, LxcSite, addr};
use crate::helpers::{Output, Site, set_field};

/// 900, a snapshot template; 910 with the checks `ok` (which prints a
/// password) and `flag` (fails while `<site>/flag` exists); 920 with `slow`
/// (sleeps 30 s while `<site>/slow` exists); 930 and 940 with `ok` only.
fn checks_site() -> SimSite {
    let with = |checks: Value, extra: Value| {
        let mut v = json!({"clone_from_ctid": "900", "health_checks": checks});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let ok = json!({"name": "ok", "script": "ok.sh"});
    let t = site(
        &json!({
            "900": ct("base", 10, &json!({"template": "local:vztmpl/x.tar.zst", "template_snapshot_name": "base", "features": ["base_setup"]})),
            "910": ct("svc-a", 11, &with(json!([ok, {"name": "flag", "script": "flag.sh", "args": ["FLAG"]}]), json!({"application_script": "app.sh"}))),
            "920": ct("svc-b", 12, &with(json!([{"name": "slow", "script": "slow.sh", "args": ["SLOW"]}]), json!({}))),
            "930": ct("svc-c", 13, &with(json!([ok]), json!({}))),
            "940": ct("svc-d", 14, &with(json!([ok]), json!({}))),
        }),
        &["base_setup"],
    )
    .env("PHOENIX_SIM_EXEC", "1");
    // The flag files' paths are the checks' arguments.
    let lxc = t.defs.join("phoenix_lxc_configs.json");
    let text = std::fs::read_to_string(&lxc).unwrap();
    let text = text
        .replace("\"FLAG\"", &format!("{:?}", flag(&t).display().to_string()))
        .replace("\"SLOW\"", &format!("{:?}", slow(&t).display().to_string()));
    std::fs::write(&lxc, text).unwrap();
    let write = |name: &str, body: &str| {
        std::fs::create_dir_all(t.defs.join("health")).unwrap();
        std::fs::write(t.defs.join("health").join(name), body).unwrap();
    };
    write(
        "ok.sh",
        "#!/bin/sh\necho starting\necho \"ok: connected with DB_PASSWORD=hunter2 as app\"\n",
    );
    write(
        "flag.sh",
        "#!/bin/sh\nif [ -e \"$1\" ]; then echo 'flag: looking' ; echo \"down: $1 is there\" >&2; exit 1; fi\necho 'flag: up'\n",
    );
    write(
        "slow.sh",
        "#!/bin/sh\necho 'slow: begun'\nif [ -e \"$1\" ]; then sleep 30; fi\necho 'slow: done'\n",
    );
    t
}

fn flag(t: &SimSite) -> std::path::PathBuf {
    t.path().join("flag")
}

fn slow(t: &SimSite) -> std::path::PathBuf {
    t.path().join("slow")
}

fn check(t: &Site, args: &[&str]) -> Output {
    t.phoenix().args(["check"]).args(args).run()
}

/// The table's row of `check` on `guest` (`ct:910`), split on runs of spaces.
fn row(out: &Output, check: &str, guest: &str) -> Vec<String> {
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{check} ")) && l.contains(&format!("{guest} ")))
        .unwrap_or_else(|| panic!("no row for {check} on {guest}:\n{}", out.stdout));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

fn json_lines(out: &Output) -> Vec<Value> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn passing_and_failing_checks_give_their_rows_and_exit_code() {
    let t = checks_site();
    t.build(&["all"]).success();

    let out = check(&t, &["all"]).success();
    // Nothing on stderr but the sim's own warning about running scripts here.
    let stderr: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.starts_with("warning: PHOENIX_SIM_EXEC=1"))
        .collect();
    assert!(
        stderr.is_empty(),
        "nothing on stderr when all pass: {stderr:?}"
    );
    let ok = row(&out, "ok", "ct:910");
    assert_eq!(ok[1..3], ["ct:910 (svc-a)", "pass"], "{ok:?}");
    assert_eq!(ok[4], "ok: connected with DB_PASSWORD=<redacted> as app");
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
    assert_eq!(row(&out, "flag", "ct:910")[4], "flag: up");
    assert!(out.stdout.contains("5 checks: 5 passed"), "{}", out.stdout);
    // The template has none to run and is not listed.
    assert!(!out.stdout.contains("ct:900"), "{}", out.stdout);

    std::fs::write(flag(&t), "").unwrap();
    let out = check(&t, &["all"]).code(1);
    let failed = row(&out, "flag", "ct:910");
    assert_eq!(failed[2], "fail", "{failed:?}");
    assert_eq!(failed[4], format!("down: {} is there", flag(&t).display()));
    assert_eq!(row(&out, "ok", "ct:910")[2], "pass");
    assert!(
        out.stderr
            .contains("check `flag` on ct:910 (svc-a) failed: down:"),
        "{}",
        out.stderr
    );
    // The whole output is in the guest's log, as the build's is.
    let log = t.phoenix().args(["logs", "910"]).run().success().stdout;
    assert!(log.contains("# health check `flag`\n"), "{log}");
    assert!(log.contains("flag: looking\n"), "{log}");
    assert!(log.contains("# check `flag`: fail after"), "{log}");

    // JSON: a line per check, then the summary.
    let out = check(&t, &["910", "--output", "json"]).code(1);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert_eq!(lines[0]["check"], "ok");
    assert_eq!(lines[0]["result"], "pass");
    assert_eq!(lines[1]["check"], "flag");
    assert_eq!(lines[1]["guest"], "ct:910");
    assert_eq!(lines[1]["result"], "fail");
    assert!(lines[1]["elapsed_ms"].is_u64(), "{}", lines[1]);
    let summary = &lines[2];
    assert_eq!(summary["event"], "summary");
    assert_eq!(
        (summary["passed"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(summary["ok"], false);

    // The build still runs the checks of a guest it builds, and fails it on one.
    set_field(&t.defs, "910", "app_settings", json!({"v": 2}));
    let out = t.build(&["910"]).code(1);
    assert_eq!(
        out.finished("ct:910")["outcome"],
        "failed",
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("health check `flag` failed: "),
        "{}",
        out.stdout
    );
    std::fs::remove_file(flag(&t)).unwrap();
    t.build(&["910"]).success();
}

/// A check whose run failed before it started in the guest (on LXC,
/// `lxc-attach` failing to re-execute itself; here a lock the sim reports) is
/// run again: by the build, which says so and does not run the application
/// script before it twice, and by `check`.
#[test]
fn a_check_that_did_not_start_is_run_again() {
    let t = checks_site();
    let not_started = |times: u32| json!([{"node": "ct:910", "op": "exec", "match": "flag.sh", "lock": true, "times": times}]);
    t.faults(&not_started(2));
    let out = t.build(&["all"]).success();
    let retries: Vec<(String, u64)> = out
        .events()
        .iter()
        .filter(|e| e["event"] == "retry" && e["node"] == "ct:910")
        .map(|e| {
            (
                e["step"].as_str().unwrap().to_string(),
                e["attempt"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(retries, [("app".to_string(), 1), ("app".to_string(), 2)]);
    let ops = std::fs::read_to_string(t.sim.join("ops.log")).unwrap();
    let ran = |script: &str| {
        ops.lines()
            .filter(|l| l.contains(&format!("ct:910 exec {script}")))
            .count()
    };
    assert_eq!(ran("apps/app.sh"), 1, "{ops}");
    assert_eq!(ran("health/flag.sh"), 1, "only the try that started: {ops}");
    let log = std::fs::read_to_string(t.path().join("cache/logs/ct-910.log")).unwrap();
    assert!(log.contains("the check did not start"), "{log}");

    t.faults(&not_started(1));
    let out = check(&t, &["910"]).success();
    assert_eq!(row(&out, "flag", "ct:910")[2], "pass");
    // Five tries in all: a failure that outlasts them fails the check.
    t.faults(&not_started(10));
    let out = check(&t, &["910"]).code(1);
    assert_eq!(row(&out, "flag", "ct:910")[2], "fail");
}

#[test]
fn a_check_that_runs_too_long_is_a_timeout() {
    let t = checks_site();
    t.build(&["all"]).success();
    std::fs::write(slow(&t), "").unwrap();
    let started = std::time::Instant::now();
    let out = check(&t, &["920", "--timeout", "1"]).code(1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the check was not stopped"
    );
    let r = row(&out, "slow", "ct:920");
    assert_eq!(r[2], "timeout", "{r:?}");
    assert_eq!(r[4], "slow: begun", "the last line before it was stopped");
    assert!(
        out.stderr
            .contains("check `slow` on ct:920 (svc-b) timed out after 1s"),
        "{}",
        out.stderr
    );
    let lines = json_lines(&check(&t, &["920", "--timeout", "1", "--output", "json"]).code(1));
    assert_eq!(lines[0]["result"], "timeout");
    assert!(
        lines[0]["elapsed_ms"].as_u64().unwrap() >= 1000,
        "{}",
        lines[0]
    );
    assert_eq!(lines[1]["timed_out"], 1);
}

/// Set fields of one guest in the simulated host's `guests.json`.
fn edit_host(sim: &Path, node: &str, change: &Value) {
    let path = sim.join("guests.json");
    let mut guests: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let g = guests
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|g| g["node"] == node)
        .unwrap();
    for (k, v) in change.as_object().unwrap() {
        g[k] = v.clone();
    }
    std::fs::write(&path, guests.to_string()).unwrap();
}

#[test]
fn a_stopped_guest_fails_and_a_foreign_one_is_skipped() {
    let t = checks_site();
    t.build(&["all"]).success();
    edit_host(&t.sim, "ct:930", &json!({"stamp": ""}));
    edit_host(&t.sim, "ct:940", &json!({"running": false}));
    let before = t.ops().len();

    let out = check(&t, &["930", "940", "900"]).code(1);
    let foreign = row(&out, "ok", "ct:930");
    assert_eq!(
        foreign[2..],
        [
            "skipped",
            "-",
            "not built by phoenix: left alone (adopt it to check it)"
        ]
    );
    let stopped = row(&out, "ok", "ct:940");
    assert_eq!(stopped[2..], ["fail", "-", "not running"]);
    assert!(
        out.stdout
            .contains("2 checks: 1 failed, 1 skipped; no health checks defined: ct:900"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("check `ok` on ct:940 (svc-d) failed: not running")
    );
    assert!(!out.stderr.contains("ct:930"), "{}", out.stderr);
    // Nothing was run in either, and the stopped one was not started.
    let ops: Vec<String> = t.ops()[before..]
        .iter()
        .map(|o| format!("{} {}", o.node, o.op))
        .collect();
    assert!(ops.is_empty(), "{ops:?}");
    assert_eq!(
        t.host().iter().find(|g| g["node"] == "ct:940").unwrap()["running"],
        false
    );

    // A guest with only passing checks and a skipped one: exit 0.
    check(&t, &["930", "910"]).success();
}

/// One busybox container with two checks on the tests' network, prefix `phxk-`.
fn write_lxc_defs(defs: &Path) {
    let lxc = json!({ "lxc_configs": { "980": {
        "name": "checked", "memory_mb": 128, "cores": 1, "storage_pool": "local-lvm",
        "storage_size_gb": 1, "unprivileged": true, "start_at_boot": false,
        "template": "local:vztmpl/busybox.tar.zst",
        "network_config": { "name": "eth0", "bridge": BRIDGE,
                            "ip": format!("{}/24", addr(180)), "gw": GATEWAY },
        "mac_address": "52:54:00:fb:0d:b4",
        "health_checks": [
            { "name": "alive", "script": "alive.sh" },
            { "name": "hostname", "script": "file.sh", "args": ["/bin/busybox"] }
        ]
    }}});
    let write = |rel: &str, text: &str| {
        let p = defs.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "phoenix_hypervisor_config.json",
        r#"{ "version": "1.0.0", "domain_name": "phoenix.test", "timezone": "UTC" }"#,
    );
    write("phoenix_lxc_configs.json", &lxc.to_string());
    write("phoenix_vm_configs.json", r#"{ "vms": [] }"#);
    write(
        "features/host/network.sh",
        &format!("#!/bin/sh\necho network: the test bridge {BRIDGE} is there already\n"),
    );
    write(
        "health/alive.sh",
        "#!/bin/sh\necho \"alive: pid 1 is $(cat /proc/1/comm)\"\n",
    );
    write(
        "health/file.sh",
        "#!/bin/sh\ntest -s \"$1\" || { echo \"missing: $1\" >&2; exit 1; }\necho \"present: $1\"\n",
    );
}

#[test]
fn real_containers_pass_their_checks_then_one_fails() {
    let Some(site) = LxcSite::new("phxk-", None, || {
        let site = Site::empty();
        write_lxc_defs(&site.defs);
        site
    }) else {
        return;
    };
    site.build(&["all"]).success();
    let out = check(&site, &["all"]).success();
    assert_eq!(out.stderr, "");
    assert_eq!(row(&out, "alive", "ct:980")[2], "pass");
    let hostname = row(&out, "hostname", "ct:980");
    assert_eq!(hostname[2..3], ["pass"], "{hostname:?}");
    assert_eq!(hostname[4], "present: /bin/busybox");

    std::fs::write(
        site.defs.join("health/file.sh"),
        "#!/bin/sh\necho \"missing: $1\" >&2\nexit 1\n",
    )
    .unwrap();
    let out = check(&site, &["all"]).code(1);
    let hostname = row(&out, "hostname", "ct:980");
    assert_eq!(hostname[2..3], ["fail"], "{hostname:?}");
    assert_eq!(hostname[4], "missing: /bin/busybox");
    assert_eq!(row(&out, "alive", "ct:980")[2], "pass");
    assert!(
        out.stderr
            .contains("check `hostname` on ct:980 (checked) failed: missing: /bin/busybox"),
        "{}",
        out.stderr
    );

    site.phoenix()
        .args(["destroy", "all", "--yes"])
        .run()
        .success();
    assert!(site.containers().is_empty(), "{:?}", site.containers());
}
