//! The API stand-in's tasks and faults: migration, a node that is down,
//! injected task failures, the source lock of a running clone, and a VM's
//! guest agent.

use super::smoke::{create_ct, resource, upid};
use serde_json::json;

use super::{ApiStandIn, Options};

#[test]
fn a_migration_moves_a_guest_and_a_running_container_needs_restart_mode() {
    let Some(api) = ApiStandIn::start() else {
        return;
    };
    create_ct(&api, "pve1", "101", &[("start", "1")]);
    let plain = api.call("POST", "/nodes/pve1/lxc/101/migrate", &[("target", "pve3")]);
    assert_eq!(
        plain.message(),
        "can't migrate running container without --online or --restart"
    );
    let here = api.call(
        "POST",
        "/nodes/pve1/lxc/101/migrate",
        &[("target", "pve1"), ("restart", "1")],
    );
    assert_eq!(
        (here.status, here.body["errors"]["target"].as_str()),
        (400, Some("target is local node."))
    );
    let task = upid(&api.call(
        "POST",
        "/nodes/pve1/lxc/101/migrate",
        &[("target", "pve3"), ("restart", "1")],
    ));
    assert!(task.contains(":vzmigrate:101:"), "{task}");
    assert_eq!(api.wait_task(&task)["exitstatus"], "OK");
    let e = resource(&api, 101);
    assert_eq!(
        (e["node"].as_str(), e["status"].as_str()),
        (Some("pve3"), Some("running"))
    );
    assert_eq!(
        api.call("GET", "/nodes/pve3/lxc/101/status/current", &[])
            .ok()["status"],
        "running"
    );
}

#[test]
fn a_node_marked_down_fails_its_requests_and_shows_offline() {
    let Some(api) = ApiStandIn::start() else {
        return;
    };
    create_ct(&api, "pve3", "101", &[]);
    api.set_down(&[("pve3", "595")]);
    let reply = api.call("GET", "/nodes/pve3/status", &[]);
    assert_eq!((reply.status, reply.message()), (595, "No route to host"));
    let start = api.call("POST", "/nodes/pve3/lxc/101/status/start", &[]);
    assert_eq!(start.status, 595);
    let status = api.call("GET", "/cluster/status", &[]);
    let pve3 = status
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "pve3")
        .unwrap()
        .clone();
    assert_eq!(pve3["online"], 0);
    assert_eq!(resource(&api, 101)["status"], "unknown");
    api.set_down(&[("pve3", "drop")]);
    let dropped = api.call("GET", "/nodes/pve3/status", &[]);
    assert_eq!(dropped.status, 0, "no answer at all: {dropped:?}");
    assert_ne!(dropped.curl_exit, 0);
    assert_eq!(
        api.call("GET", "/nodes/pve2/status", &[]).status,
        200,
        "other nodes answer"
    );
    api.set_down(&[]);
    assert_eq!(api.call("GET", "/nodes/pve3/status", &[]).status, 200);
    assert_eq!(resource(&api, 101)["status"], "stopped");
    let unknown = api.call("GET", "/nodes/pve9/status", &[]);
    assert_eq!(unknown.status, 500);
}

#[test]
fn an_injected_failure_ends_the_task_with_its_error_and_log() {
    let Some(api) = ApiStandIn::start() else {
        return;
    };
    create_ct(&api, "pve2", "101", &[]);
    api.fail("lxc/101/status/start", 1);
    let task = upid(&api.call("POST", "/nodes/pve2/lxc/101/status/start", &[]));
    let status = api.wait_task(&task);
    let error = "injected failure: POST /nodes/pve2/lxc/101/status/start node=pve2 vmid=101";
    assert_eq!(status["exitstatus"], error);
    assert_eq!(
        api.task_log(&task).last().unwrap(),
        &format!("TASK ERROR: {error}")
    );
    assert_eq!(resource(&api, 101)["status"], "stopped");
    let again = upid(&api.call("POST", "/nodes/pve2/lxc/101/status/start", &[]));
    assert_eq!(
        api.wait_task(&again)["exitstatus"],
        "OK",
        "the failure was for one call"
    );
    // A refusal inside the task (the model's) is its exit status too.
    upid(&api.call(
        "POST",
        "/nodes/pve2/lxc/101/snapshot",
        &[("snapname", "s1")],
    ));
    let twice = upid(&api.call(
        "POST",
        "/nodes/pve2/lxc/101/snapshot",
        &[("snapname", "s1")],
    ));
    assert_eq!(
        api.wait_task(&twice)["exitstatus"],
        "snapshot name 's1' already used"
    );
}

#[test]
fn a_clone_locks_its_source_while_its_task_runs() {
    // A template seeded in the state: only the clones take the task delay.
    let template = json!({"type": "lxc", "status": "stopped", "node": "pve1", "template": 1,
        "snapshots": [], "config": {"rootfs": "local-lvm:base-900-disk-0,size=8G", "memory": "512",
        "ostype": "debian", "template": "1"}});
    let opts = Options {
        task_delay: 0.6,
        state: Some(json!({"guests": {"900": template}})),
        ..Options::default()
    };
    let Some(api) = ApiStandIn::start_with(&opts) else {
        return;
    };
    assert_eq!(resource(&api, 900)["template"], 1);
    let first = upid(&api.call("POST", "/nodes/pve1/lxc/900/clone", &[("newid", "101")]));
    let running = api.call("GET", &format!("/nodes/pve1/tasks/{first}/status"), &[]);
    assert_eq!(running.ok()["status"], "running");
    assert_eq!(resource(&api, 900)["lock"], "disk");
    let second = api.call("POST", "/nodes/pve1/lxc/900/clone", &[("newid", "102")]);
    assert_eq!(
        (second.status, second.message()),
        (500, "CT is locked (disk)")
    );
    assert_eq!(api.wait_task(&first)["exitstatus"], "OK");
    assert_eq!(resource(&api, 900).get("lock"), None);
    let second = upid(&api.call("POST", "/nodes/pve1/lxc/900/clone", &[("newid", "102")]));
    assert_eq!(api.wait_task(&second)["exitstatus"], "OK");
}

#[test]
fn a_vm_on_pve1_answers_through_its_guest_agent() {
    let Some(api) = ApiStandIn::start() else {
        return;
    };
    let create = api.call(
        "POST",
        "/nodes/pve1/qemu",
        &[
            ("vmid", "200"),
            ("scsi0", "local-lvm:16"),
            ("agent", "1"),
            ("memory", "2048"),
        ],
    );
    assert_eq!(api.wait_task(&upid(&create))["exitstatus"], "OK");
    let not_running = api.call(
        "POST",
        "/nodes/pve1/qemu/200/agent/file-write",
        &[("file", "/etc/motd"), ("content", "hi")],
    );
    assert_eq!(not_running.message(), "VM 200 is not running");
    api.wait_task(&upid(&api.call(
        "POST",
        "/nodes/pve1/qemu/200/status/start",
        &[],
    )));
    api.call(
        "POST",
        "/nodes/pve1/qemu/200/agent/file-write",
        &[("file", "/etc/motd"), ("content", "hello\n")],
    )
    .ok();
    let pid = api.call(
        "POST",
        "/nodes/pve1/qemu/200/agent/exec",
        &[("command", "cat"), ("command", "/etc/motd")],
    );
    let pid = pid.ok()["pid"].to_string();
    let status = api.call(
        "GET",
        "/nodes/pve1/qemu/200/agent/exec-status",
        &[("pid", &pid)],
    );
    assert_eq!(
        (
            status.ok()["exited"].as_i64(),
            status.ok()["out-data"].as_str()
        ),
        (Some(1), Some("hello\n"))
    );
    let wrong_node = api.call("GET", "/nodes/pve2/qemu/200/status/current", &[]);
    assert_eq!(
        wrong_node.message(),
        "Configuration file 'nodes/pve2/qemu-server/200.conf' does not exist"
    );
    // qemu-server counts the source's disks: on local storage, no other node.
    let clone = api.call(
        "POST",
        "/nodes/pve1/qemu/200/clone",
        &[("newid", "201"), ("target", "pve2")],
    );
    assert_eq!(
        clone.message(),
        "can't clone VM to node 'pve2' (VM uses local storage)"
    );
    // qemu's asynchronous config update is a task; the change waits for a restart.
    let config = api.call("POST", "/nodes/pve1/qemu/200/config", &[("cores", "4")]);
    assert_eq!(api.wait_task(&upid(&config))["exitstatus"], "OK");
    let pending = api.call("GET", "/nodes/pve1/qemu/200/pending", &[]);
    assert!(
        pending
            .ok()
            .as_array()
            .unwrap()
            .contains(&json!({"key": "cores", "pending": "4"})),
        "{pending:?}"
    );
    let online = upid(&api.call(
        "POST",
        "/nodes/pve1/qemu/200/migrate",
        &[("target", "pve2"), ("online", "1")],
    ));
    assert_eq!(
        api.wait_task(&online)["exitstatus"],
        "can't migrate VM - check log"
    );
    assert!(
        api.task_log(&online)
            .iter()
            .any(|l| l.contains("with-local-disks"))
    );
    let moved = upid(&api.call(
        "POST",
        "/nodes/pve1/qemu/200/migrate",
        &[
            ("target", "pve2"),
            ("online", "1"),
            ("with-local-disks", "1"),
        ],
    ));
    assert_eq!(api.wait_task(&moved)["exitstatus"], "OK");
    assert_eq!(
        (
            resource(&api, 200)["node"].as_str(),
            resource(&api, 200)["status"].as_str()
        ),
        (Some("pve2"), Some("running"))
    );
    assert_eq!(api.violations(), "");
}
