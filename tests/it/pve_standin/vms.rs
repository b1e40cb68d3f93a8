//! VMs on the stand-in host: the cloud image, cloud-init, NFS volumes.

use super::{Host, host};
use crate::helpers::set_vm_field;

/// VMs: the cloud image is downloaded and checked when the host lacks it, the disk
/// grows to `disk_size_gb`, cloud-init's "recoverable errors" get one reboot, NFS
/// volumes land in one fstab block that follows the definitions.
#[test]
fn vm_image_cloud_init_and_nfs_volumes() {
    let Some(h) = host() else { return };
    let image = "debian-12-genericcloud-amd64.qcow2";
    std::fs::remove_file(h.pve.images.join(image)).unwrap();
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
        std::fs::read_dir(&h.pve.images).unwrap().next().is_none(),
        "a download that fails its check is removed"
    );
    assert!(!h.pve.commands().iter().any(|c| c[..2] == ["qm", "create"]));

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
    h.pve
        .set_stand_in_state("cloud_init", serde_json::json!({"1001": [2, 0]}));

    let out = h.build(&["1001"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    h.pve.assert_no_violations();
    assert_eq!(
        std::fs::read_to_string(h.pve.images.join(image)).unwrap(),
        body
    );
    let cmds = h.pve.commands();
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
        !std::fs::read_dir(&h.pve.images).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("phoenix-")),
        "the customised copy is removed after the import"
    );
    let fstab = |h: &Host| {
        h.pve.stand_in_state()["guests"]["1001"]["files"]["/etc/fstab"]
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
        h.pve.root().join("tank/vm/1001/certs").is_dir(),
        "this host serves them"
    );

    // Nothing changed: nothing runs. One volume goes: its line goes too.
    let out = h.build(&["1001"]);
    assert_eq!(out.summary()["steps_run"], 0);
    set_vm_field(&h.defs, "1001", "volumes", serde_json::json!([volumes[0]]));
    let out = h.build(&["1001"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.summary()["nodes"]["vm:1001"], "updated");
    let f = fstab(&h);
    assert_eq!(f.matches(" nfs ").count(), 1, "{f}");
    assert!(!f.contains("/etc/certs"), "{f}");
    h.pve.assert_no_violations();
}
