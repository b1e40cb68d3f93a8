//! The cluster's nodes over ssh (`ApiStandIn::ssh_bin`, `tests/standin/node-ssh.py`):
//! a container the API created on pve2 takes a pushed script and runs it through
//! `pct` on pve2's shell, not on another node's, as Proxmox does; a node that is
//! down, or a host that is no node, fails as ssh does; the API sees what `pct`
//! changed, also while both write at once.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::json;

use super::ApiStandIn;
use super::smoke::create_ct;

/// `ssh root@IP -- COMMAND` as phoenix runs it (`-o BatchMode=yes`, every word
/// quoted), with `stdin` piped in.
fn ssh(api: &ApiStandIn, ip: &str, words: &[&str], stdin: &[u8]) -> Output {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect();
    let mut child = Command::new(api.ssh_bin().join("ssh"))
        .args(["-o", "BatchMode=yes", &format!("root@{ip}"), "--"])
        .arg(quoted.join(" "))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// phoenix's upload (`Runner::upload`): `sh -c` writing stdin beside `path`, then
/// renaming it over.
fn upload(api: &ApiStandIn, ip: &str, path: &Path, bytes: &[u8]) -> Output {
    let script = "mkdir -p \"$(dirname \"$1\")\" && cat > \"$1.phoenix-new\" && mv -f \"$1.phoenix-new\" \"$1\"";
    ssh(
        api,
        ip,
        &["sh", "-c", script, "sh", path.to_str().unwrap()],
        bytes,
    )
}

/// A 3-node cluster with CT 950 running on pve2 (10.0.0.2).
fn running_ct_on_pve2() -> Option<ApiStandIn> {
    let api = ApiStandIn::start()?;
    create_ct(&api, "pve2", "950", &[]);
    let start = api.call("POST", "/nodes/pve2/lxc/950/status/start", &[]);
    assert_eq!(
        api.wait_task(start.ok().as_str().unwrap())["exitstatus"],
        "OK"
    );
    Some(api)
}

#[test]
fn a_script_pushed_over_ssh_to_the_guests_node_runs_there_with_its_output() {
    let Some(api) = running_ct_on_pve2() else {
        return;
    };
    api.run_pushed_scripts();
    let staging = tempfile::tempdir().unwrap();
    let staged = staging.path().join("ct-950/hello.sh");
    let body = b"#!/bin/sh\necho \"hello $1 from $PHOENIX_GUEST_ID\"\nexit 3\n";
    let up = upload(&api, "10.0.0.2", &staged, body);
    assert!(up.status.success(), "{}", text(&up.stderr));
    assert_eq!(std::fs::read(&staged).unwrap(), body);

    let push = ssh(
        &api,
        "10.0.0.2",
        &[
            "pct",
            "push",
            "950",
            staged.to_str().unwrap(),
            "/phoenix/run/hello.sh",
        ],
        b"",
    );
    assert!(push.status.success(), "{}", text(&push.stderr));
    let exec = ssh(
        &api,
        "10.0.0.2",
        &[
            "timeout",
            "-k",
            "10",
            "70",
            "pct",
            "exec",
            "950",
            "--",
            "env",
            "PHOENIX_GUEST_ID=950",
            "timeout",
            "-k",
            "10",
            "60",
            "/bin/sh",
            "/phoenix/run/hello.sh",
            "it's me",
        ],
        b"",
    );
    assert_eq!(text(&exec.stdout), "hello it's me from 950\n");
    assert_eq!(exec.status.code(), Some(3), "{}", text(&exec.stderr));
    // A command that runs no pushed file runs nothing on this machine.
    let mkdir = ssh(
        &api,
        "10.0.0.2",
        &[
            "pct",
            "exec",
            "950",
            "--",
            "mkdir",
            "-p",
            "/phoenix-standin-must-not-exist",
        ],
        b"",
    );
    assert!(mkdir.status.success(), "{}", text(&mkdir.stderr));
    assert!(!Path::new("/phoenix-standin-must-not-exist").exists());

    let status = ssh(&api, "10.0.0.2", &["pct", "status", "950"], b"");
    assert_eq!(text(&status.stdout), "status: running");
    // What `pct` changes on the node, the API sees.
    let stop = ssh(&api, "10.0.0.2", &["pct", "shutdown", "950"], b"");
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    let current = api.call("GET", "/nodes/pve2/lxc/950/status/current", &[]);
    assert_eq!(current.ok()["status"], "stopped");
    assert_eq!(api.state()["guests"]["950"]["node"], "pve2");
    assert_eq!(api.violations(), "");
}

#[test]
fn pct_on_another_node_does_not_find_the_guest_as_proxmox_does() {
    let Some(api) = running_ct_on_pve2() else {
        return;
    };
    let exec = ssh(&api, "10.0.0.1", &["pct", "exec", "950", "--", "true"], b"");
    assert_eq!(exec.status.code(), Some(1));
    assert_eq!(
        text(&exec.stderr),
        "Configuration file 'nodes/pve1/lxc/950.conf' does not exist\n"
    );
    let status = ssh(&api, "10.0.0.1", &["pct", "status", "950"], b"");
    assert_eq!(
        text(&status.stderr),
        "Configuration file 'nodes/pve1/lxc/950.conf' does not exist\n"
    );
    // `pct push` asks whether the CT runs here before it reads the config.
    let push = ssh(
        &api,
        "10.0.0.1",
        &["pct", "push", "950", "/etc/hostname", "/x"],
        b"",
    );
    assert_eq!(push.status.code(), Some(1));
    assert_eq!(text(&push.stderr), "can only push files to a running CT\n");
    // On pve2 the same exec works.
    let here = ssh(&api, "10.0.0.2", &["pct", "exec", "950", "--", "true"], b"");
    assert!(here.status.success(), "{}", text(&here.stderr));
    // A CT created on a node's shell is that node's.
    let create = ssh(
        &api,
        "10.0.0.3",
        &[
            "pct",
            "create",
            "951",
            super::smoke::TEMPLATE,
            "--rootfs",
            "local-lvm:4",
        ],
        b"",
    );
    assert!(create.status.success(), "{}", text(&create.stderr));
    let config = api.call("GET", "/nodes/pve3/lxc/951/config", &[]);
    assert_eq!(config.ok()["rootfs"], "local-lvm:vm-951-disk-0,size=4G");
    let again = ssh(
        &api,
        "10.0.0.1",
        &["pct", "create", "950", super::smoke::TEMPLATE],
        b"",
    );
    assert_eq!(
        text(&again.stderr),
        "CT 950 already exists on node 'pve2'\n"
    );
}

#[test]
fn ssh_to_a_down_node_or_to_no_node_fails_with_255_and_the_log_has_every_call() {
    let Some(api) = running_ct_on_pve2() else {
        return;
    };
    api.set_down(&[("pve3", "595")]);
    let down = ssh(&api, "10.0.0.3", &["pct", "shutdown", "950"], b"");
    assert_eq!(down.status.code(), Some(255));
    assert_eq!(
        text(&down.stderr),
        "ssh: connect to host 10.0.0.3 port 22: No route to host\n"
    );
    let stranger = Command::new(api.ssh_bin().join("ssh"))
        .args(["-F", "/dev/null", "-o", "BatchMode=yes", "-p", "2222"])
        .args(["root@10.0.0.9", "--", "'true'"])
        .output()
        .unwrap();
    assert_eq!(stranger.status.code(), Some(255));
    assert_eq!(
        text(&stranger.stderr),
        "ssh: connect to host 10.0.0.9 port 2222: No route to host\n"
    );
    let up = ssh(&api, "10.0.0.1", &["pct", "status", "950"], b"");
    assert_eq!(up.status.code(), Some(1), "pve1 answers: 950 is not there");
    api.set_down(&[]);
    let back = ssh(&api, "10.0.0.3", &["echo", "$HOME"], b"");
    assert_eq!(text(&back.stdout), "$HOME\n", "every word arrives quoted");
    assert_eq!(
        api.ssh_log(),
        [
            (
                "root@10.0.0.3".to_string(),
                "'pct' 'shutdown' '950'".to_string()
            ),
            ("root@10.0.0.9".into(), "'true'".into()),
            ("root@10.0.0.1".into(), "'pct' 'status' '950'".into()),
            ("root@10.0.0.3".into(), "'echo' '$HOME'".into()),
        ]
    );
    // Only pve1's `pct status` ran: the down node's shutdown did not.
    assert_eq!(api.node_commands(), [["pct", "status", "950"]]);
    assert_eq!(api.state()["guests"]["950"]["status"], "running");
}

/// The CLI on a node and the API server write the one state file: with their
/// shared lock neither loses the other's changes. Both only add (snapshots on
/// one side, containers on the other), so a write over the other's shows.
#[test]
fn pct_on_a_node_and_the_api_writing_at_once_lose_nothing() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(api) = running_ct_on_pve2() else {
        return;
    };
    let rounds = 10;
    let done = AtomicBool::new(false);
    let mut created = Vec::new();
    let failures = std::thread::scope(|s| {
        let cli = s.spawn(|| {
            let failures: Vec<String> = (1..=rounds)
                .map(|n| {
                    ssh(
                        &api,
                        "10.0.0.2",
                        &["pct", "snapshot", "950", &format!("s{n}")],
                        b"",
                    )
                })
                .filter(|out| !out.status.success())
                .map(|out| text(&out.stderr))
                .collect();
            done.store(true, Ordering::SeqCst);
            failures
        });
        // Bounded, should the other side stop early.
        while !done.load(Ordering::SeqCst) && created.len() < 500 {
            let id = (1000 + created.len()).to_string();
            let reply = api.call(
                "POST",
                "/nodes/pve1/lxc",
                &[
                    ("vmid", id.as_str()),
                    ("ostemplate", super::smoke::TEMPLATE),
                ],
            );
            if reply.status == 200 {
                api.wait_task(reply.data().as_str().unwrap());
            }
            created.push(id);
        }
        cli.join().unwrap()
    });
    assert_eq!(failures, Vec::<String>::new(), "pct snapshot failed");
    let state = api.state();
    let snapshots: Vec<String> = (1..=rounds).map(|n| format!("s{n}")).collect();
    assert_eq!(state["guests"]["950"]["snapshots"], json!(snapshots));
    let lost: Vec<&String> = created
        .iter()
        .filter(|id| state["guests"][id.as_str()].is_null())
        .collect();
    assert!(
        lost.is_empty(),
        "containers the API created were lost: {lost:?}"
    );
    assert!(
        created.len() > rounds,
        "the API wrote while pct did: {created:?}"
    );
    assert_eq!(api.violations(), "");
}
