//! The pve backend end to end, through stand-in `pct`, `qm` and `pvesh` executables
//! that check every argument against the Proxmox API schema and keep the host's
//! state in a directory (`tests/standin/pve-standin.py`), and stand-in `zpool`, `zfs`,
//! `wipefs`, `pvesm`, `exportfs` and `showmount` for the built-in host steps.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::helpers::{Output, bundled_defs, phoenix, shared};

struct Host {
    _dir: tempfile::TempDir,
    defs: PathBuf,
    cache: PathBuf,
    state: PathBuf,
    bin: PathBuf,
    images: PathBuf,
    schema: PathBuf,
}

/// A stand-in Proxmox host laid out in a directory.
pub struct Staged {
    /// A copy of the bundled definitions, host steps made harmless.
    pub defs: PathBuf,
    /// The stand-in tools, and an `apt-get` that refuses.
    pub bin: PathBuf,
    /// The stand-ins' state (`PHOENIX_STANDIN_DIR`).
    pub state: PathBuf,
    /// The image directory, with the template's cloud image in it.
    pub images: PathBuf,
}

/// Lay out a stand-in host in `dir` (also used by the ssh tests).
pub fn stage(dir: &Path) -> Staged {
    let defs = dir.join("defs");
    crate::e2e_lxc::copy_dir(&bundled_defs(), &defs);
    // Host steps run on this machine for real: make them harmless here.
    for step in ["network", "firewall"] {
        std::fs::write(
            defs.join(format!("features/host/{step}.sh")),
            format!("#!/bin/sh\necho host step {step} with $1\n"),
        )
        .unwrap();
    }
    let (bin, state, images) = (dir.join("bin"), dir.join("pve"), dir.join("images"));
    for d in [&bin, &state, &images] {
        std::fs::create_dir_all(d).unwrap();
    }
    let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standin/pve-standin.py");
    for tool in [
        "pct",
        "qm",
        "pvesh",
        "pvesm",
        "zpool",
        "zfs",
        "wipefs",
        "exportfs",
        "showmount",
        "curl",
        "virt-customize",
    ] {
        std::os::unix::fs::symlink(&standin, bin.join(tool)).unwrap();
    }
    // The backend installs missing host packages with apt-get: never on this machine.
    let apt = bin.join("apt-get");
    std::fs::write(
        &apt,
        "#!/bin/sh\necho \"apt-get $* refused in a test\" >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&apt, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        images.join("debian-12-genericcloud-amd64.qcow2"),
        b"not really an image",
    )
    .unwrap();
    Staged {
        defs,
        bin,
        state,
        images,
    }
}

fn host() -> Option<Host> {
    let shared = shared()?;
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 is needed for the pve stand-ins"
        );
        eprintln!("SKIPPED: python3 not found; the pve stand-ins need it");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let Staged {
        defs,
        bin,
        state,
        images,
    } = stage(dir.path());
    Some(Host {
        cache: dir.path().join("cache"),
        defs,
        state,
        bin,
        images,
        schema: shared.join("proxmox/pve-api-schema.json"),
        _dir: dir,
    })
}

impl Host {
    fn build(&self, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        phoenix()
            .defs(&self.defs)
            .cache(&self.cache)
            .env("PATH", &path)
            .env("PHOENIX_STANDIN_DIR", &self.state.display().to_string())
            .env("PHOENIX_STANDIN_SCHEMA", &self.schema.display().to_string())
            .env("PHOENIX_PVE_IMAGE_DIR", &self.images.display().to_string())
            .env("PHOENIX_PVE_ROOT", &self.root().display().to_string())
            .env("PHOENIX_RETRY_BACKOFF_MS", "10")
            .args(["--backend", "pve", "build", "--output", "json", "-j", "3"])
            .args(args)
            .run()
    }

    /// Where the host's files (`/etc/exports`, the storage ledger) live.
    fn root(&self) -> PathBuf {
        self.state.join("root")
    }

    fn stand_in_state_or_empty(&self) -> Value {
        std::fs::read_to_string(self.state.join("state.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| serde_json::json!({"guests": {}}))
    }

    fn stand_in_state(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.state.join("state.json")).unwrap())
            .unwrap()
    }

    fn commands(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.state.join("commands.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn assert_no_violations(&self) {
        let v = std::fs::read_to_string(self.state.join("violations.log")).unwrap_or_default();
        assert!(v.is_empty(), "commands the Proxmox API would reject:\n{v}");
    }
}

fn summary(out: &Output) -> Value {
    let last = out
        .stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no output\n{}", out.stderr));
    serde_json::from_str(last).unwrap()
}

#[test]
fn builds_through_the_real_backend_code_and_a_second_build_runs_nothing() {
    let Some(h) = host() else { return };
    let out = h.build(&["all"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let s = summary(&out);
    for (node, outcome) in s["nodes"].as_object().unwrap() {
        assert_eq!(outcome, "built", "{node}");
    }
    h.assert_no_violations();
    let cmds = h.commands();
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

    let before = h.commands().len();
    let out = h.build(&["all"]);
    assert_eq!(summary(&out)["steps_run"], 0);
    let after = h.commands();
    assert_eq!(
        after[before..],
        [vec![
            "pvesh",
            "get",
            "/cluster/resources",
            "--type",
            "vm",
            "--output-format",
            "json"
        ]],
        "a no-op build costs one inventory call"
    );

    // A memory change: one `pct set` for 950 and its firewall, nothing else.
    crate::build_sim::set_field(&h.defs, "950", "memory_mb", serde_json::json!(1536));
    let out = h.build(&["all"]);
    assert_eq!(summary(&out)["steps_run"], 1);
    let all = h.commands();
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
    h.assert_no_violations();
}

#[test]
fn a_lock_error_is_retried_and_a_failure_resumes() {
    let Some(h) = host() else { return };
    // Two lock errors on 103's clone (retried), one failure of a command in 101.
    std::fs::write(
        h.state.join("fail"),
        "lock:pct clone 900 103 2\npct exec 101 -- env 1\n",
    )
    .unwrap();
    let out = h.build(&["all"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let s = summary(&out);
    assert_eq!(s["nodes"]["ct:103"], "built", "the lock error was retried");
    assert_eq!(s["nodes"]["ct:101"], "failed");
    assert_eq!(s["nodes"]["ct:102"], "skipped");
    assert_eq!(s["nodes"]["ct:950"], "built");
    let out = h.build(&["all"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(summary(&out)["nodes"]["ct:102"], "built");
    let clones_of_101 = h
        .commands()
        .iter()
        .filter(|c| c[..2] == ["pct", "clone"] && c[3] == "101")
        .count();
    assert_eq!(clones_of_101, 1, "101 resumed, it was not cloned again");
    h.assert_no_violations();
}

#[test]
fn hostile_values_reach_the_guest_as_data() {
    let Some(h) = host() else { return };
    let hostile = "'; rm -rf / $(touch /tmp/phoenix-pwned) \"q\"\nsecond line";
    crate::build_sim::set_field(
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

/// The built-in ZFS and NFS steps: a disk holding data stops the step unless
/// `--wipe-disks` is given, and only storages phoenix created are ever removed.
#[test]
fn host_storage_steps_never_erase_or_remove_what_they_do_not_own() {
    let Some(h) = host() else { return };
    let hv = h.defs.join("phoenix_hypervisor_config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&hv).unwrap()).unwrap();
    config["zfs"] = serde_json::json!({
        "arc_max_gb": 1,
        "pools": [{"name": "tank", "raid_level": "mirror", "disks": ["/dev/fake-a", "/dev/fake-b"]}],
        "datasets": [
            {"name": "guests", "pool": "tank", "properties": "recordsize=16K,quota=10G",
             "proxmox_storage_type": "zfspool", "proxmox_content_type": "images,rootdir"},
            {"name": "iso", "pool": "tank", "properties": "recordsize=1M",
             "proxmox_storage_type": "dir", "proxmox_content_type": "iso,vztmpl"}
        ]
    });
    config["nfs"] = serde_json::json!({"exports": [
        {"path": "/tank/shared", "clients": ["10.0.3.0/24"], "options": ["rw", "sync", "no_subtree_check"]}
    ]});
    std::fs::write(&hv, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    // The host: one blank disk, one with a filesystem on it, a storage of its own,
    // and an /etc/exports line of its own.
    std::fs::write(
        h.state.join("state.json"),
        r#"{"guests": {}, "disks": {"/dev/fake-a": [], "/dev/fake-b": ["ext4"]},
            "storages": {"local": {"type": "dir", "path": "/var/lib/vz"}, "backup-nas": {"type": "nfs"}}}"#,
    )
    .unwrap();
    std::fs::create_dir_all(h.root().join("etc")).unwrap();
    std::fs::create_dir_all(h.root().join("srv/theirs")).unwrap();
    let theirs = "/srv/theirs 192.168.1.0/24(ro)\n";
    std::fs::write(h.root().join("etc/exports"), theirs).unwrap();

    // A pool that exists on a disk but is not imported (a reinstalled host) is data:
    // not even --wipe-disks erases it.
    let mut st = h.stand_in_state();
    st["importable"] = serde_json::json!({"oldtank": ["/dev/fake-b"]});
    std::fs::write(h.state.join("state.json"), st.to_string()).unwrap();
    let out = h.build(&["host:nfs", "--wipe-disks"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("`zpool import oldtank`"),
        "{}",
        out.stdout
    );
    let mut st = h.stand_in_state();
    st["importable"] = serde_json::json!({});
    std::fs::write(h.state.join("state.json"), st.to_string()).unwrap();

    let out = h.build(&["host:nfs"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let s = summary(&out);
    assert_eq!(s["nodes"]["host:zfs"], "failed");
    assert_eq!(s["nodes"]["host:nfs"], "skipped");
    assert!(
        out.stdout.contains("/dev/fake-b holds ext4") && out.stdout.contains("--wipe-disks"),
        "the error names the disk, what it holds and the flag:\n{}",
        out.stdout
    );
    let ran = h.commands();
    assert!(
        !ran.iter()
            .any(|c| c[0] == "zpool" && c[1] == "create" || c[..2] == ["wipefs", "--all"]),
        "nothing was erased or created: {ran:?}"
    );

    let out = h.build(&["host:nfs", "--wipe-disks"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let ran = h.commands();
    let wiped: Vec<&str> = ran
        .iter()
        .filter(|c| c[..2] == ["wipefs", "--all"])
        .map(|c| c[2].as_str())
        .collect();
    assert_eq!(
        wiped,
        ["/dev/fake-b"],
        "only the disk that held data is wiped"
    );
    let st = h.stand_in_state();
    assert_eq!(
        st["pools"]["tank"],
        serde_json::json!(["/dev/fake-a", "/dev/fake-b"])
    );
    assert_eq!(st["datasets"]["tank/guests"]["recordsize"], "16K");
    assert_eq!(st["storages"]["tank-guests"]["pool"], "tank/guests");
    assert_eq!(st["storages"]["tank-iso"]["is_mountpoint"], "yes");
    assert_eq!(st["storages"]["nfs-shared"]["export"], "/tank/shared");
    let exports = std::fs::read_to_string(h.root().join("etc/exports")).unwrap();
    assert!(
        exports.starts_with(theirs)
            && exports.contains("/tank/shared 10.0.3.0/24(rw,sync,no_subtree_check)\n"),
        "{exports}"
    );
    assert!(h.root().join("tank/shared").is_dir());
    let ledger = std::fs::read_to_string(h.root().join("var/lib/phoenix/owned-storages")).unwrap();
    for owned in ["zfs tank-guests", "zfs tank-iso", "nfs nfs-shared"] {
        assert!(ledger.contains(owned), "{ledger}");
    }
    assert!(
        std::fs::read_to_string(h.root().join("etc/modprobe.d/zz-phoenix-zfs-arc.conf"))
            .unwrap()
            .contains("zfs_arc_max=1073741824")
    );

    // Nothing changed: nothing runs.
    let before = h.commands().len();
    let out = h.build(&["host:nfs", "--wipe-disks"]);
    assert_eq!(summary(&out)["steps_run"], 0);
    assert_eq!(h.commands().len(), before + 1, "only the inventory call");

    // A dataset goes away: its storage, which phoenix created, goes once no guest
    // disk is on it; the host's own storages and the NFS step's storage stay.
    config["zfs"]["datasets"].as_array_mut().unwrap().pop();
    std::fs::write(&hv, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let mut st = h.stand_in_state();
    st["volumes"] = serde_json::json!({"tank-iso": ["tank-iso:iso/debian.iso"]});
    std::fs::write(h.state.join("state.json"), st.to_string()).unwrap();
    let out = h.build(&["host:nfs"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("still holds tank-iso:iso/debian.iso"),
        "{}",
        out.stdout
    );
    assert!(h.stand_in_state()["storages"]["tank-iso"].is_object());
    let mut st = h.stand_in_state();
    st["volumes"] = serde_json::json!({});
    std::fs::write(h.state.join("state.json"), st.to_string()).unwrap();
    let out = h.build(&["host:nfs"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let s = summary(&out);
    assert_eq!(s["nodes"]["host:zfs"], "updated");
    assert_eq!(s["nodes"]["host:nfs"], "fresh");
    let st = h.stand_in_state();
    let ids: Vec<&String> = st["storages"].as_object().unwrap().keys().collect();
    assert_eq!(ids, ["backup-nas", "local", "nfs-shared", "tank-guests"]);
    let ran = h.commands();
    assert!(
        !ran[before..]
            .iter()
            .any(|c| c[0] == "zpool" && c[1] == "create"),
        "the existing pool is left alone"
    );
    h.assert_no_violations();
}

/// VMs: the cloud image is downloaded and checked when the host lacks it, the disk
/// grows to `disk_size_gb`, cloud-init's "recoverable errors" get one reboot, NFS
/// volumes land in one fstab block that follows the definitions.
#[test]
fn vm_image_cloud_init_and_nfs_volumes() {
    let Some(h) = host() else { return };
    let image = "debian-12-genericcloud-amd64.qcow2";
    std::fs::remove_file(h.images.join(image)).unwrap();
    let url = format!("https://images.example/bookworm/{image}");
    // What the stand-in curl downloads, and a checksum that does not match it.
    set_vm_field(
        &h.defs,
        "9000",
        "template_image_url",
        serde_json::json!(url),
    );
    set_vm_field(
        &h.defs,
        "9000",
        "template_image_sha256",
        serde_json::json!("0".repeat(64)),
    );
    let out = h.build(&["vm:9000"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("has SHA-256"), "{}", out.stdout);
    assert!(
        std::fs::read_dir(&h.images).unwrap().next().is_none(),
        "a download that fails its check is removed"
    );
    assert!(!h.commands().iter().any(|c| c[..2] == ["qm", "create"]));

    let body = format!("image from {url}\n");
    let sum = std::process::Command::new("sha256sum")
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(body.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let sum = String::from_utf8(sum.stdout).unwrap()[..64].to_string();
    set_vm_field(
        &h.defs,
        "9000",
        "template_image_sha256",
        serde_json::json!(sum),
    );
    set_vm_field(&h.defs, "1001", "disk_size_gb", serde_json::json!(40));
    let volumes = serde_json::json!([
        {"type": "nfs", "name": "data", "path": "/tank/vm/1001", "mount_point": "/data", "server": "10.0.3.1"},
        {"type": "nfs", "name": "certs", "path": "/tank/vm/1001/certs", "mount_point": "/etc/certs", "server": "10.0.3.1"}
    ]);
    set_vm_field(&h.defs, "1001", "volumes", volumes.clone());
    // 1001's first cloud-init wait reports recoverable errors, the second is clean.
    let mut st = h.stand_in_state_or_empty();
    st["cloud_init"] = serde_json::json!({"1001": [2, 0]});
    std::fs::write(h.state.join("state.json"), st.to_string()).unwrap();

    let out = h.build(&["1001"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    h.assert_no_violations();
    assert_eq!(std::fs::read_to_string(h.images.join(image)).unwrap(), body);
    let cmds = h.commands();
    let count = |want: &[&str]| {
        cmds.iter()
            .filter(|c| c.iter().map(String::as_str).collect::<Vec<_>>() == want)
            .count()
    };
    assert_eq!(
        count(&["qm", "reboot", "1001"]),
        1,
        "one reboot after exit 2"
    );
    assert_eq!(count(&["qm", "resize", "1001", "scsi0", "40G"]), 1);
    assert!(
        cmds.iter()
            .any(|c| c[0] == "virt-customize"
                && c.contains(&"qemu-guest-agent,nfs-common".to_string())),
        "the agent goes into the image"
    );
    let at = |c: &[&str]| {
        cmds.iter()
            .position(|x| x.iter().map(String::as_str).eq(c.iter().copied()))
    };
    let generalised = cmds
        .iter()
        .position(|c| {
            c[..3] == ["qm", "guest", "exec"] && c[3] == "9000" && c.contains(&"clean".to_string())
        })
        .expect("the template is generalised");
    assert!(generalised < at(&["qm", "template", "9000"]).unwrap());
    assert!(
        !std::fs::read_dir(&h.images).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("phoenix-")),
        "the customised copy is removed after the import"
    );
    let fstab = |h: &Host| {
        h.stand_in_state()["guests"]["1001"]["files"]["/etc/fstab"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let f = fstab(&h);
    assert!(
        f.contains("10.0.3.1:/tank/vm/1001 /data nfs defaults,_netdev,nofail 0 0\n")
            && f.contains("10.0.3.1:/tank/vm/1001/certs /etc/certs nfs"),
        "{f}"
    );
    assert!(
        h.root().join("tank/vm/1001/certs").is_dir(),
        "this host serves them"
    );

    // Nothing changed: nothing runs. One volume goes: its line goes too.
    let out = h.build(&["1001"]);
    assert_eq!(summary(&out)["steps_run"], 0);
    set_vm_field(&h.defs, "1001", "volumes", serde_json::json!([volumes[0]]));
    let out = h.build(&["1001"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(summary(&out)["nodes"]["vm:1001"], "updated");
    let f = fstab(&h);
    assert_eq!(f.matches(" nfs ").count(), 1, "{f}");
    assert!(!f.contains("/etc/certs"), "{f}");
    h.assert_no_violations();
}

fn set_vm_field(defs: &Path, id: &str, field: &str, value: Value) {
    let path = defs.join("phoenix_vm_configs.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let vm = v["vms"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|vm| vm["vmid"].as_u64().map(|n| n.to_string()).as_deref() == Some(id))
        .unwrap();
    vm[field] = value;
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// Raw `lxc_options` lines: written to the main section of the config file only
/// (never into a snapshot section, where they would silently not apply), exactly
/// the container's own list (a clone's inherited lines replaced), and taken out
/// again when the definition drops them.
#[test]
fn raw_lxc_lines_follow_the_definitions_in_the_main_section_only() {
    let Some(h) = host() else { return };
    crate::build_sim::set_field(
        &h.defs,
        "900",
        "lxc_options",
        serde_json::json!(["lxc.apparmor.profile=unconfined"]),
    );
    crate::build_sim::set_field(
        &h.defs,
        "103",
        "lxc_options",
        serde_json::json!(["lxc.mount.auto:sys:rw"]),
    );
    let out = h.build(&["103"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let conf = |id: &str| {
        std::fs::read_to_string(h.root().join(format!("etc/pve/lxc/{id}.conf"))).unwrap()
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
    let path = h.defs.join("phoenix_lxc_configs.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["lxc_configs"]["103"]
        .as_object_mut()
        .unwrap()
        .remove("lxc_options");
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let out = h.build(&["103"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(summary(&out)["nodes"]["ct:103"], "updated");
    assert!(raw(&main("103")).is_empty(), "{}", conf("103"));
    assert_eq!(conf("900"), c900);
    h.assert_no_violations();
}
