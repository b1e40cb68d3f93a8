//! The stand-in refuses what real Proxmox refuses, with Proxmox's messages (issue 8):
//! each test runs the stand-in `pct`, `qm` and `pvesh` directly and shows the wrong
//! sequence refused and the right one accepted.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use super::{StandIn, stage};
use crate::helpers::{Site, shared};

/// A staged stand-in host and the environment its tools need.
pub(super) struct Pve {
    _site: Site,
    pub(super) pve: StandIn,
    schema: PathBuf,
}

struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

pub(super) fn pve() -> Option<Pve> {
    let schema = shared()?.join("proxmox/pve-api-schema.json");
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIPPED: python3 not found; the pve stand-ins need it");
        return None;
    }
    let site = Site::bundled();
    let pve = stage(&site);
    Some(Pve {
        _site: site,
        pve,
        schema,
    })
}

impl Pve {
    fn run_args(&self, args: &[&str]) -> Ran {
        let out = Command::new(self.pve.bin.join(args[0]))
            .args(&args[1..])
            .env("PHOENIX_STANDIN_DIR", &self.pve.state)
            .env("PHOENIX_STANDIN_SCHEMA", &self.schema)
            .env("PHOENIX_PVE_ROOT", self.pve.root())
            .output()
            .unwrap();
        Ran {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Run a command line (split on whitespace) that must succeed; its stdout.
    #[track_caller]
    pub(super) fn ok(&self, line: &str) -> String {
        let args: Vec<&str> = line.split_whitespace().collect();
        let r = self.run_args(&args);
        assert!(r.ok, "`{line}` was refused: {}", r.stderr);
        r.stdout
    }

    /// Run a command line that must fail with `msg` in its error.
    #[track_caller]
    pub(super) fn refused(&self, line: &str, msg: &str) {
        let args: Vec<&str> = line.split_whitespace().collect();
        let r = self.run_args(&args);
        assert!(!r.ok, "`{line}` was accepted");
        assert!(r.stderr.contains(msg), "`{line}`: {}", r.stderr);
    }

    /// A stopped container on `rootfs` (`<storage>:<GiB>`).
    pub(super) fn ct(&self, id: u32, rootfs: &str) {
        self.ok(&format!(
            "pct create {id} local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst --hostname ct{id} --rootfs {rootfs} --unprivileged 1 --net0 name=eth0,bridge=vmbr0,hwaddr=52:54:00:00:00:01"
        ));
    }

    pub(super) fn config(&self, id: u32) -> String {
        self.ok(&format!("pct config {id}"))
    }

    fn host_file(&self, path: &str) {
        let p = self.pve.root().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }

    pub(super) fn storages(&self, storages: Value) {
        self.pve.set_stand_in_state("storages", storages);
    }
}

#[test]
fn a_snapshot_needs_every_volume_on_a_storage_with_snapshots() {
    let Some(p) = pve() else { return };
    p.storages(json!({"nas": {"type": "nfs"}, "tank": {"type": "zfspool"}}));
    p.ct(200, "local-lvm:4");
    p.ok("pct set 200 --mp0 /srv/data,mp=/data");
    p.refused("pct snapshot 200 s1", "snapshot feature is not available");
    p.ok("pct set 200 --delete mp0");
    p.ok("pct set 200 --mp0 nas:8,mp=/data");
    p.refused("pct snapshot 200 s1", "snapshot feature is not available");
    p.ok("pct set 200 --delete mp0");
    p.ok("pct set 200 --mp0 tank:8,mp=/data");
    p.ok("pct snapshot 200 s1");
    p.refused("pct snapshot 200 s1", "snapshot name 's1' already used");
    // A directory storage has no snapshots for a container's raw volume.
    p.ct(201, "local:4");
    p.refused("pct snapshot 201 s1", "snapshot feature is not available");
}

#[test]
fn a_storage_the_host_does_not_have_is_refused() {
    let Some(p) = pve() else { return };
    p.refused(
        "pct create 200 local:vztmpl/x.tar.zst --rootfs fast-pool:4",
        "storage 'fast-pool' does not exist",
    );
    p.ct(200, "local-lvm:4");
    p.refused(
        "pct set 200 --mp0 fast-pool:8,mp=/data",
        "storage 'fast-pool' does not exist",
    );
    p.storages(json!({"fast-pool": {"type": "zfspool"}}));
    p.ok("pct set 200 --mp0 fast-pool:8,mp=/data");
    assert!(
        p.config(200)
            .contains("mp0: fast-pool:subvol-200-disk-1,mp=/data,size=8G"),
        "{}",
        p.config(200)
    );
}

#[test]
fn zfs_rolls_back_only_to_the_most_recent_snapshot() {
    let Some(p) = pve() else { return };
    p.storages(json!({"tank": {"type": "zfspool"}}));
    p.ct(200, "tank:4");
    p.ok("pct snapshot 200 aa");
    p.ok("pct snapshot 200 bb");
    p.refused(
        "pct rollback 200 aa",
        "can't rollback, 'aa' is not most recent snapshot on 'tank:subvol-200-disk-0'",
    );
    p.ok("pct rollback 200 bb");
    p.refused("pct delsnapshot 200 cc", "snapshot 'cc' does not exist");
    p.ok("pct delsnapshot 200 bb");
    p.ok("pct rollback 200 aa");
    // LVM-thin rolls back to any snapshot.
    p.ct(201, "local-lvm:4");
    p.ok("pct snapshot 201 aa");
    p.ok("pct snapshot 201 bb");
    p.ok("pct rollback 201 aa");
}

#[test]
fn a_start_needs_the_bind_mount_directory_and_the_devices() {
    let Some(p) = pve() else { return };
    p.ct(200, "local-lvm:4");
    p.ok("pct set 200 --mp0 /srv/data,mp=/data");
    p.refused("pct start 200", "directory '/srv/data' does not exist");
    std::fs::create_dir_all(p.pve.root().join("srv/data")).unwrap();
    p.refused(
        "pct set 200 --dev0 path=/dev/nvidia0",
        "Device /dev/nvidia0 does not exist",
    );
    p.host_file("/dev/nvidia0");
    p.ok("pct set 200 --dev0 path=/dev/nvidia0");
    p.ok("pct start 200");
    p.ok("pct stop 200");
    p.refused("pct stop 200", "CT 200 not running");
}

#[test]
fn two_devices_with_one_path_fail_at_start() {
    let Some(p) = pve() else { return };
    p.host_file("/dev/nvidia0");
    p.ct(200, "local-lvm:4");
    p.ok("pct set 200 --dev0 path=/dev/nvidia0 --dev1 path=/dev/nvidia0");
    p.refused(
        "pct start 200",
        "failed to mknod /var/lib/lxc/200/passthrough/dev/nvidia0: File exists\nstartup for container '200' failed",
    );
    p.ok("pct set 200 --delete dev1");
    p.ok("pct start 200");
}

#[test]
fn a_clone_copies_the_config_and_firewall_with_new_macs() {
    let Some(p) = pve() else { return };
    p.host_file("/dev/nvidia0");
    p.ct(200, "local-lvm:4");
    p.ok("pct set 200 --dev0 path=/dev/nvidia0 --features nesting=1 --tags web");
    let conf = p.pve.root().join("etc/pve/lxc/200.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{text}lxc.apparmor.profile: unconfined\n")).unwrap();
    p.ok("pct snapshot 200 base");
    p.ok("pct set 200 --tags later");
    p.ok("pvesh set /nodes/pve/lxc/200/firewall/options --enable 1 --policy_in DROP");
    p.ok("pvesh create /nodes/pve/lxc/200/firewall/rules --type in --action ACCEPT --dport 80 --proto tcp --enable 1");
    p.ok("pct clone 200 300 --snapname base --hostname copy");
    let c = p.config(300);
    for want in [
        "dev0: path=/dev/nvidia0",
        "features: nesting=1",
        "hostname: copy",
        "lxc.apparmor.profile: unconfined",
        "rootfs: local-lvm:vm-300-disk-0,size=4G",
        "tags: web\n",
    ] {
        assert!(c.contains(want), "{want}:\n{c}");
    }
    assert!(!c.contains("52:54:00:00:00:01"), "a new MAC:\n{c}");
    assert!(
        !p.ok("pct listsnapshot 300").contains("base"),
        "no snapshots"
    );
    let rules: Value = serde_json::from_str(
        &p.ok("pvesh get /nodes/pve/lxc/300/firewall/rules --output-format json"),
    )
    .unwrap();
    assert_eq!(rules[0]["dport"], "80", "the current firewall: {rules}");
    let opts: Value =
        serde_json::from_str(&p.ok("pvesh get /nodes/pve/lxc/300/firewall/options")).unwrap();
    assert_eq!(opts["policy_in"], "DROP");
}

#[test]
fn a_clone_refuses_bind_mounts_linked_storage_and_a_running_full_source() {
    let Some(p) = pve() else { return };
    p.ct(200, "local-lvm:4");
    std::fs::create_dir_all(p.pve.root().join("srv/data")).unwrap();
    p.ok("pct set 200 --mp0 /srv/data,mp=/data");
    p.refused(
        "pct clone 200 300",
        "unable to clone mountpoint 'mp0' (type bind)",
    );
    p.ok("pct set 200 --delete mp0");
    p.refused(
        "pct clone 200 300 --full 0 --storage local-lvm",
        "parameter 'storage' not allowed for linked clones",
    );
    p.refused(
        "pct clone 200 300 --full 0",
        "Linked clone feature for 'local-lvm:vm-200-disk-0' is not available",
    );
    p.ok("pct start 200");
    p.refused(
        "pct clone 200 300",
        "Full clone of a running container is only possible from a snapshot",
    );
    p.ok("pct snapshot 200 ss");
    p.ok("pct clone 200 300 --snapname ss --storage local-lvm");
    p.ok("pct clone 200 301 --snapname ss --full 0");
}

#[test]
fn a_template_refuses_running_guests_snapshots_and_its_linked_clones_destroy() {
    let Some(p) = pve() else { return };
    p.ct(200, "local-lvm:4");
    p.ok("pct snapshot 200 ss");
    p.refused(
        "pct template 200",
        "unable to create template, because CT contains snapshots",
    );
    p.ok("pct delsnapshot 200 ss");
    p.ok("pct start 200");
    p.refused(
        "pct template 200",
        "you can't convert a CT to template if the CT is running",
    );
    p.ok("pct stop 200");
    p.ok("pct template 200");
    p.refused("pct start 200", "you can't start a CT if it's a template");
    p.refused(
        "pct snapshot 200 tt",
        "you can't take a snapshot if it's a template",
    );
    p.refused(
        "pct rollback 200 ss",
        "you can't rollback if vm is a template",
    );
    p.ok("pct clone 200 300");
    p.refused(
        "pct destroy 200",
        "base volume 'base-200-disk-0' is still in use by linked clones",
    );
    p.ok("pct destroy 300");
    p.ok("pct destroy 200");
}

#[test]
fn a_running_container_keeps_what_is_not_hot_pluggable_pending() {
    let Some(p) = pve() else { return };
    p.ct(200, "local-lvm:4");
    p.ok("pct start 200");
    p.refused(
        "pct set 200 --unprivileged 0",
        "unable to modify read-only option: 'unprivileged'",
    );
    p.ok("pct set 200 --features nesting=1 --nameserver 10.0.0.1 --memory 1024");
    let current = p.ok("pct config 200 --current 1");
    assert!(
        !current.contains("features") && current.contains("memory: 1024"),
        "{current}"
    );
    assert!(p.config(200).contains("features: nesting=1"));
    let pending = p.ok("pct pending 200");
    assert!(
        pending.contains("new features: nesting=1\n")
            && pending.contains("new nameserver: 10.0.0.1\n")
            && pending.contains("cur memory: 1024\n"),
        "{pending}"
    );
    p.ok("pct reboot 200");
    assert!(
        p.ok("pct config 200 --current 1")
            .contains("features: nesting=1")
    );
    assert!(!p.ok("pct pending 200").contains("new "));
}

#[test]
fn tags_are_one_sorted_lower_cased_list_replaced_whole() {
    let Some(p) = pve() else { return };
    p.ct(200, "local-lvm:4");
    p.run_args(&["pct", "set", "200", "--tags", "Web;db,web zeta"]);
    assert!(p.config(200).contains("tags: db;web;zeta\n"));
    p.ok("pct set 200 --tags phoenix");
    let r: Value = serde_json::from_str(&p.ok("pvesh get /cluster/resources --type vm")).unwrap();
    assert_eq!(r[0]["tags"], "phoenix", "the whole list replaced");
    assert_eq!(r[0]["node"], "pve");
    assert_eq!(r[0]["type"], "lxc");
}

#[test]
fn exec_push_and_the_agent_need_a_running_guest() {
    let Some(p) = pve() else { return };
    p.ct(200, "local-lvm:4");
    p.refused("pct exec 200 -- true", "container '200' not running!");
    p.refused(
        "pct push 200 /etc/hostname /x",
        "can only push files to a running CT",
    );
    p.ok("pct start 200");
    p.ok("pct exec 200 -- true");
    p.ok("pct push 200 /etc/hostname /x");

    p.ok("qm create 300 --name vm --net0 virtio,bridge=vmbr0");
    p.refused("qm guest cmd 300 ping", "No QEMU guest agent configured");
    p.ok("qm set 300 --agent 1");
    p.refused("qm guest exec 300 -- true", "VM 300 is not running");
    p.ok("qm start 300");
    p.ok("qm guest exec 300 -- true");
    p.ok("qm agent 300 ping");
    let c = p.ok("qm config 300");
    assert!(
        c.contains("net0: virtio=BC:24:11:"),
        "a MAC is assigned:\n{c}"
    );
    let r: Value = serde_json::from_str(&p.ok("pvesh get /cluster/resources")).unwrap();
    let vm = r.as_array().unwrap().iter().find(|e| e["vmid"] == 300);
    assert_eq!(vm.unwrap()["type"], "qemu", "{r}");
}

#[test]
fn a_running_vm_keeps_cores_pending_until_it_restarts() {
    let Some(p) = pve() else { return };
    p.ok("qm create 300 --name vm --cores 1");
    p.ok("qm start 300");
    p.ok("qm set 300 --cores 4 --name renamed");
    assert!(
        p.ok("qm pending 300")
            .contains("cur cores: 1\nnew cores: 4\n")
    );
    assert!(p.ok("qm config 300 --current 1").contains("name: renamed"));
    p.ok("qm stop 300");
    p.ok("qm start 300");
    assert!(p.ok("qm config 300 --current 1").contains("cores: 4"));
}

/// Option values are checked as pve-common's `PVE::JSONSchema` checks them: a
/// snapshot name is a `pve-configid` (a letter, then at least one more) of at most
/// 40 characters, a name server list holds addresses, and a number is within
/// the option's range.
#[test]
fn values_out_of_the_schemas_formats_and_ranges_are_refused() {
    let Some(p) = pve() else { return };
    p.ct(200, "local-lvm:4");
    p.refused(
        "pct snapshot 200 a",
        "snapname: invalid configuration ID 'a'",
    );
    let long = "s".repeat(41);
    p.refused(
        &format!("pct snapshot 200 {long}"),
        "snapname: value may only be 40 characters long",
    );
    p.ok(&format!("pct snapshot 200 {}", "s".repeat(40)));
    p.refused(
        "pct set 200 --nameserver 10.0.0.300",
        "nameserver: value does not look like a valid IP address",
    );
    p.ok("pct set 200 --nameserver 10.0.0.13");
    p.refused("pct set 200 --memory 15", "memory: 15 out of range");
    p.refused("pct set 200 --cores 8193", "cores: 8193 out of range");
}
