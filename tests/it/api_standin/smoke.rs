//! The API stand-in answers as a Proxmox cluster does, through `curl` and TLS
//! verified against the generated CA: inventory, placement on a node, tasks,
//! cross-node clones, authentication and schema checks (the rest: `faults.rs`).

use serde_json::{Value, json};

use super::{ApiStandIn, TOKEN_ID};

pub(super) const TEMPLATE: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

pub(super) fn upid(reply: &super::Reply) -> String {
    reply.ok().as_str().unwrap().to_string()
}

/// Create CT `id` on `node` and wait for its task to end OK.
#[track_caller]
pub(super) fn create_ct(api: &ApiStandIn, node: &str, id: &str, extra: &[(&str, &str)]) {
    let mut params = vec![
        ("vmid", id),
        ("ostemplate", TEMPLATE),
        ("rootfs", "local-lvm:8"),
    ];
    params.extend_from_slice(extra);
    let task = upid(&api.call("POST", &format!("/nodes/{node}/lxc"), &params));
    assert_eq!(api.wait_task(&task)["exitstatus"], "OK");
}

pub(super) fn vm_resources(api: &ApiStandIn) -> Vec<Value> {
    let reply = api.call("GET", "/cluster/resources", &[("type", "vm")]);
    reply.ok().as_array().unwrap().clone()
}

pub(super) fn resource(api: &ApiStandIn, id: u64) -> Value {
    vm_resources(api)
        .into_iter()
        .find(|e| e["vmid"] == id)
        .unwrap_or_else(|| panic!("no guest {id} in /cluster/resources"))
}

#[test]
fn an_empty_cluster_has_three_nodes_with_addresses_and_no_guests() {
    let Some(api) = ApiStandIn::start() else {
        return;
    };
    assert_eq!(vm_resources(&api), Vec::<Value>::new());
    let status = api.call("GET", "/cluster/status", &[]);
    let nodes: Vec<_> = status
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "node")
        .map(|e| (e["name"].clone(), e["ip"].is_string(), e["online"].clone()))
        .collect();
    assert_eq!(
        nodes,
        [
            (json!("pve1"), true, json!(1)),
            (json!("pve2"), true, json!(1)),
            (json!("pve3"), true, json!(1))
        ]
    );
    let mem = api.call("GET", "/nodes/pve2/status", &[]).ok()["memory"].clone();
    assert!(mem["free"].as_u64().unwrap() < mem["total"].as_u64().unwrap());
    let storages = api.call("GET", "/nodes/pve3/storage", &[]);
    let names: Vec<_> = storages
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["storage"].clone())
        .collect();
    assert_eq!(names, [json!("local"), json!("local-lvm")]);
    assert_eq!(api.violations(), "");
}

#[test]
fn a_container_created_on_pve2_is_there_and_its_task_ends_ok() {
    let Some(api) = ApiStandIn::start() else {
        return;
    };
    let free_before = api.call("GET", "/nodes/pve2/status", &[]).ok()["memory"]["free"].clone();
    let reply = api.call(
        "POST",
        "/nodes/pve2/lxc",
        &[
            ("vmid", "101"),
            ("ostemplate", TEMPLATE),
            ("memory", "2048"),
            ("start", "1"),
        ],
    );
    let task = upid(&reply);
    assert!(
        task.starts_with("UPID:pve2:") && task.ends_with(&format!(":vzcreate:101:{TOKEN_ID}:")),
        "{task}"
    );
    let status = api.wait_task(&task);
    assert_eq!(
        (status["status"].as_str(), status["exitstatus"].as_str()),
        (Some("stopped"), Some("OK"))
    );
    assert_eq!(api.task_log(&task).last().unwrap(), "TASK OK");
    let e = resource(&api, 101);
    assert_eq!(
        (e["node"].as_str(), e["type"].as_str(), e["status"].as_str()),
        (Some("pve2"), Some("lxc"), Some("running"))
    );
    assert_eq!(e["maxmem"], 2048_u64 << 20);
    let free = api.call("GET", "/nodes/pve2/status", &[]).ok()["memory"]["free"].clone();
    assert_eq!(
        free_before.as_u64().unwrap() - free.as_u64().unwrap(),
        2048 * 1024 * 1024
    );
    let elsewhere = api.call("GET", "/nodes/pve1/lxc/101/config", &[]);
    assert_eq!(elsewhere.status, 500);
    assert_eq!(
        elsewhere.message(),
        "Configuration file 'nodes/pve1/lxc/101.conf' does not exist"
    );
    let again = api.call(
        "POST",
        "/nodes/pve3/lxc",
        &[("vmid", "101"), ("ostemplate", TEMPLATE)],
    );
    assert_eq!(again.message(), "CT 101 already exists on node 'pve2'");
}

#[test]
fn a_linked_clone_to_another_node_is_refused_and_a_full_clone_with_target_works() {
    let Some(api) = ApiStandIn::start() else {
        return;
    };
    create_ct(&api, "pve1", "900", &[]);
    upid(&api.call("POST", "/nodes/pve1/lxc/900/template", &[]));
    let linked = api.call(
        "POST",
        "/nodes/pve1/lxc/900/clone",
        &[("newid", "101"), ("target", "pve2")],
    );
    assert_eq!(linked.status, 500);
    assert_eq!(
        linked.message(),
        "can't clone CT to node 'pve2' (CT uses local storage)"
    );
    let local = api.call(
        "POST",
        "/nodes/pve1/lxc/900/clone",
        &[
            ("newid", "101"),
            ("target", "pve2"),
            ("full", "1"),
            ("storage", "local-lvm"),
        ],
    );
    assert_eq!(
        local.message(),
        "can't clone to non-shared storage 'local-lvm'"
    );
    api.call(
        "POST",
        "/storage",
        &[
            ("storage", "tank"),
            ("type", "nfs"),
            ("server", "10.0.0.9"),
            ("export", "/tank"),
            ("content", "rootdir,images"),
        ],
    )
    .ok();
    let full = api.call(
        "POST",
        "/nodes/pve1/lxc/900/clone",
        &[
            ("newid", "101"),
            ("target", "pve2"),
            ("full", "1"),
            ("storage", "tank"),
            ("hostname", "web"),
        ],
    );
    assert_eq!(api.wait_task(&upid(&full))["exitstatus"], "OK");
    let e = resource(&api, 101);
    assert_eq!(
        (
            e["node"].as_str(),
            e["name"].as_str(),
            e["template"].as_i64()
        ),
        (Some("pve2"), Some("web"), Some(0))
    );
    let config = api.call("GET", "/nodes/pve2/lxc/101/config", &[]);
    assert_eq!(config.ok()["rootfs"], "tank:vm-101-disk-0,size=8G");
    // On its own node a linked clone is what cloning a template does.
    let linked_here = api.call("POST", "/nodes/pve1/lxc/900/clone", &[("newid", "102")]);
    assert_eq!(api.wait_task(&upid(&linked_here))["exitstatus"], "OK");
    assert_eq!(resource(&api, 102)["node"], "pve1");
    assert_eq!(api.violations(), "");
}

#[test]
fn a_wrong_or_missing_token_is_401_and_the_secret_is_written_nowhere() {
    let Some(api) = ApiStandIn::start() else {
        return;
    };
    let wrong = format!("Authorization: PVEAPIToken={TOKEN_ID}=not-the-secret");
    let reply = api.call_as("GET", "/cluster/resources", &[], &["-H".into(), wrong]);
    assert_eq!(
        (reply.status, reply.message()),
        (401, "Authentication failed!")
    );
    let reply = api.call_as("GET", "/cluster/resources", &[], &[]);
    assert_eq!((reply.status, reply.message()), (401, "No ticket"));
    assert_eq!(api.call("GET", "/version", &[]).status, 200);
    let statuses: Vec<_> = api.requests().iter().map(|r| r["status"].clone()).collect();
    assert_eq!(statuses, [json!(401), json!(401), json!(200)]);
    for entry in std::fs::read_dir(api.state_dir()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            !text.contains(api.secret()),
            "{} holds the secret",
            path.display()
        );
    }
    assert!(!api.server_log().contains(api.secret()));
}

#[test]
fn a_schema_violation_is_400_with_errors_and_lands_in_violations_log() {
    let Some(api) = ApiStandIn::start() else {
        return;
    };
    let reply = api.call(
        "POST",
        "/nodes/pve1/lxc",
        &[
            ("vmid", "101"),
            ("ostemplate", TEMPLATE),
            ("memory", "lots"),
            ("colour", "blue"),
        ],
    );
    assert_eq!(
        (reply.status, reply.message()),
        (400, "Parameter verification failed.")
    );
    assert_eq!(
        reply.body["errors"]["memory"],
        "type check ('integer') failed - got 'lots'"
    );
    assert!(
        reply.body["errors"]["colour"]
            .as_str()
            .unwrap()
            .contains("not defined in schema")
    );
    let violations = api.violations();
    assert!(
        violations.contains("memory: type check ('integer') failed")
            && violations.contains("colour:"),
        "{violations}"
    );
    let bad_key = api.call(
        "POST",
        "/nodes/pve1/lxc",
        &[
            ("vmid", "102"),
            ("ostemplate", TEMPLATE),
            ("net0", "name=eth0,colour=red"),
        ],
    );
    assert_eq!(bad_key.status, 400);
    assert!(
        bad_key.body["errors"]["net0"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{:?}",
        bad_key.body
    );
    assert_eq!(
        vm_resources(&api),
        Vec::<Value>::new(),
        "a refused call changes nothing"
    );
}
