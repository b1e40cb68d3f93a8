//! The shared fixture sets (`phoenix-2025-09`, `phoenix-2025-11`) end to end on the
//! stand-in host (GitHub issue 8): everything builds with nothing refused, a second
//! build costs one inventory call, and a changed feature of 901, on ZFS, rolls back
//! past phoenix's newer snapshots and rebuilds its chain.
//!
//! The host is seeded with what a real host of that user has before phoenix first
//! runs: the empty disks `zfs.pools` names and the NVIDIA device nodes. Storages,
//! datasets, bind mount sources and NFS export directories are phoenix's to make.

use serde_json::Value;

use super::{Host, host_on};
use crate::helpers::Site;

/// A stand-in host for fixture set `name`, seeded as a real host of that user is.
pub(super) fn fixture_host(name: &str) -> Option<Host> {
    let h = host_on(Site::fixture(name)?)?;
    seed(&h, &h.defs.join("phoenix_hypervisor_config.json"));
    Some(h)
}

/// Seed `h` as the host of the hypervisor definitions at `hypervisor`: the disks
/// its pools name and the NVIDIA device nodes.
pub(super) fn seed(h: &Host, hypervisor: &std::path::Path) {
    let hv: Value = serde_json::from_str(&std::fs::read_to_string(hypervisor).unwrap()).unwrap();
    let disks: serde_json::Map<String, Value> = hv["zfs"]["pools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["disks"].as_array().cloned().unwrap_or_default())
        .map(|d| (d.as_str().unwrap().to_string(), serde_json::json!([])))
        .collect();
    assert!(
        !disks.is_empty(),
        "{} names the disks of its pools",
        hypervisor.display()
    );
    h.pve.set_stand_in_state("disks", Value::Object(disks));
    // The NVIDIA driver's device nodes (two GPUs, as the fixtures assign 0 and 1).
    let dev = h.pve.root().join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    for node in [
        "nvidia0",
        "nvidia1",
        "nvidiactl",
        "nvidia-uvm",
        "nvidia-uvm-tools",
        "nvidia-modeset",
    ] {
        std::fs::write(dev.join(node), b"").unwrap();
    }
}

/// `build all` succeeds with every node built and nothing refused; a second one
/// runs nothing and costs one inventory call.
#[track_caller]
fn builds_clean_then_noop(h: &Host) {
    let out = h.build(&["all"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for (node, outcome) in out.summary()["nodes"].as_object().unwrap() {
        assert_eq!(outcome, "built", "{node}");
    }
    h.pve.assert_no_violations();
    let before = h.pve.commands().len();
    let out = h.build(&["all"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.summary()["steps_run"], 0, "{}", out.stdout);
    h.pve.assert_only_inventory_since(before);
}

#[test]
fn fixture_2025_09_builds_and_a_second_build_runs_nothing() {
    let Some(h) = fixture_host("phoenix-2025-09") else {
        return;
    };
    builds_clean_then_noop(&h);
}

#[test]
fn fixture_2025_11_builds_and_a_feature_change_of_901_rolls_back_on_zfs() {
    let Some(h) = fixture_host("phoenix-2025-11") else {
        return;
    };
    builds_clean_then_noop(&h);

    // 901 (on ZFS, `quickOS-lxc-disks`) has one feature, `nvidia`, after which it
    // took `final-form`. Its script changes: 901 goes back to `pre-nvidia`.
    let before = h.pve.commands().len();
    let script = h.defs.join("features/lxc/nvidia.sh");
    let mut body = std::fs::read_to_string(&script).unwrap();
    body.push_str("echo driver 2\n");
    std::fs::write(&script, body).unwrap();
    // Rebuilding the clones destroys the root disks of 801, 802, 914 and 917,
    // which are not templates: phoenix asks for consent (it refuses and changes
    // nothing without it, checked first).
    let out = h.build(&["all"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains("--allow-replace"), "{}", out.stderr);
    assert_eq!(
        h.pve.commands().len(),
        before + 1,
        "only the inventory call"
    );
    let out = h.build(&["all", "--allow-replace"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    h.pve.assert_no_violations();
    let cmds = h.pve.commands()[before..].to_vec();
    let at = |want: &[&str]| {
        cmds.iter()
            .position(|c| c.iter().map(String::as_str).eq(want.iter().copied()))
            .unwrap_or_else(|| panic!("{want:?} was not run: {cmds:#?}"))
    };
    // pve-storage ZFSPoolPlugin::volume_rollback_is_possible: only the most
    // recent snapshot can be rolled back to, so the newer one goes first.
    let deleted = at(&["pct", "delsnapshot", "901", "final-form"]);
    let rolled_back = at(&["pct", "rollback", "901", "pre-nvidia"]);
    assert!(deleted < rolled_back, "{cmds:#?}");
    let retaken = cmds
        .iter()
        .rposition(|c| c[..] == ["pct", "snapshot", "901", "final-form"])
        .expect("901 takes final-form again");
    assert!(rolled_back < retaken);
    assert!(
        !cmds
            .iter()
            .any(|c| c.starts_with(&["pct".into(), "destroy".into(), "901".into()])),
        "901 is rolled back, not rebuilt from 900: {cmds:#?}"
    );
    // Its clones are made again from the new snapshot, and theirs from them.
    for clone in ["910", "911", "912", "914", "917"] {
        let made = at(&[
            "pct",
            "clone",
            "901",
            clone,
            "--snapname",
            "final-form",
            "--hostname",
            cmds.iter()
                .find(|c| c[..2] == ["pct", "clone"] && c[3] == clone)
                .map_or("", |c| c[7].as_str()),
            "--full",
            "1",
            "--storage",
            "quickOS-lxc-disks",
        ]);
        assert!(retaken < made, "{clone} is cloned from the new final-form");
    }
    for grandchild in ["801", "802"] {
        assert!(
            cmds.iter().any(|c| c.starts_with(&[
                "pct".into(),
                "clone".into(),
                "911".into(),
                grandchild.into()
            ])),
            "{grandchild} is rebuilt from the new 911"
        );
    }
    let s = out.summary();
    for (node, outcome) in s["nodes"].as_object().unwrap() {
        let rebuilt = [
            "ct:901", "ct:910", "ct:911", "ct:912", "ct:914", "ct:917", "ct:801", "ct:802",
        ];
        if !rebuilt.contains(&node.as_str()) {
            assert_eq!(outcome, "fresh", "{node}");
        }
    }
    let before = h.pve.commands().len();
    let out = h.build(&["all"]);
    assert_eq!(out.summary()["steps_run"], 0, "{}", out.stdout);
    h.pve.assert_only_inventory_since(before);
}

/// `host:gpu_init` leaves `/dev/nvidia-uvm` and `/dev/nvidia-uvm-tools` on the
/// host, which its script does not make: phoenix loads `nvidia-uvm` with the
/// driver's `nvidia-modprobe`. Without a driver, the step fails, naming the nodes
/// (and the GPU guests, which need it, wait).
#[test]
fn gpu_init_leaves_the_uvm_device_nodes_or_fails_naming_them() {
    let Some(h) = fixture_host("phoenix-2025-11") else {
        return;
    };
    let dev = h.pve.root().join("dev");
    for node in ["nvidia-uvm", "nvidia-uvm-tools"] {
        std::fs::remove_file(dev.join(node)).unwrap();
    }
    let out = h.build(&["host:gpu_init"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(dev.join("nvidia-uvm").exists() && dev.join("nvidia-uvm-tools").exists());
    assert!(
        h.pve
            .commands()
            .iter()
            .any(|c| c[..] == ["nvidia-modprobe", "-u", "-c=0"]),
        "{:?}",
        h.pve.commands()
    );

    // No driver on the host: the nodes cannot be made.
    let Some(h) = fixture_host("phoenix-2025-11") else {
        return;
    };
    let dev = h.pve.root().join("dev");
    for node in ["nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"] {
        std::fs::remove_file(dev.join(node)).unwrap();
    }
    let out = h.build(&["host:gpu_init"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(out.summary()["nodes"]["host:gpu_init"], "failed");
    assert!(
        out.stdout
            .contains("/dev/nvidia-uvm-tools still do not exist"),
        "{}",
        out.stdout
    );
}
