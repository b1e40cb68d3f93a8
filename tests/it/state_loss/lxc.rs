//! Issue 15 on real LXC containers: the journal removed, then garbled.

use serde_json::{Value, json};

use super::journal;
use crate::helpers::Site;
use crate::helpers::lxc::{BRIDGE, GATEWAY, LxcSite, addr};

/// The journal cases on real LXC containers: the journal removed, then garbled;
/// each time the next two builds create nothing and the containers keep what was
/// put in them. Needs root, the LXC tools, busybox and the tests' bridge
/// (`phxtest0`, see [`crate::helpers::lxc`]); skipped without.
#[test]
fn real_lxc_containers_survive_a_lost_or_garbled_journal() {
    let Some(site) = lxc_site() else { return };
    let canary = site.lxcpath.join("phxs-910/rootfs/root/canary");
    site.build(&["all"]).success();
    std::fs::write(&canary, "kept").unwrap();

    std::fs::remove_file(journal(&site)).unwrap();
    for _ in 0..2 {
        let out = site.build(&["all"]).success();
        assert_eq!(
            out.summary()["steps_run"],
            0,
            "{}\n{}",
            out.stdout,
            out.stderr
        );
    }

    let text = std::fs::read_to_string(journal(&site)).unwrap();
    std::fs::write(journal(&site), text.replace("\"steps\":[", "\"steps\":{")).unwrap();
    let out = site.build(&["all"]).success();
    assert!(out.stderr.contains("line at byte offset"), "{}", out.stderr);
    assert_eq!(out.summary()["steps_run"], 0, "{}", out.stdout);
    let out = site.build(&["all"]).success();
    assert_eq!(out.summary()["steps_run"], 0, "{}", out.stdout);
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "kept");
    let stamp = std::fs::read_to_string(site.lxcpath.join("phxs-910/phoenix-stamp")).unwrap();
    assert!(
        stamp.starts_with("built:") && stamp.lines().count() > 1,
        "the stamp file carries its proof: {stamp}"
    );
}

/// A small tree of two real containers (a template and its clone) on the tests'
/// network, with addresses and a prefix (`phxs-`) of their own, so it runs beside
/// the other real-LXC tests and never meets the bundled demo's.
fn lxc_site() -> Option<LxcSite> {
    LxcSite::new("phxs-", None, || {
        let site = Site::empty();
        let ct = |name: &str, n: u8, extra: Value| {
            let mut v = json!({
                "name": name, "memory_mb": 256, "cores": 1, "storage_pool": "local-lvm", "storage_size_gb": 4,
                "network_config": {"name": "eth0", "bridge": BRIDGE, "ip": format!("{}/24", addr(n)), "gw": GATEWAY},
                "mac_address": format!("52:54:00:15:00:{n:02x}"), "unprivileged": true
            });
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            v
        };
        let lxc = json!({"lxc_configs": {
            "900": ct("base", 241, json!({"template": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "template_snapshot_name": "base", "features": ["base_setup"]})),
            "910": ct("svc", 242, json!({"clone_from_ctid": "900", "application_script": "app.sh"})),
        }});
        let defs = &site.defs;
        std::fs::create_dir_all(defs.join("features/lxc")).unwrap();
        std::fs::create_dir_all(defs.join("apps")).unwrap();
        std::fs::write(defs.join("phoenix_lxc_configs.json"), lxc.to_string()).unwrap();
        std::fs::write(
            defs.join("phoenix_hypervisor_config.json"),
            r#"{"version": "1"}"#,
        )
        .unwrap();
        std::fs::write(
            defs.join("features/lxc/base_setup.sh"),
            "#!/bin/sh\necho base > /root/base\n",
        )
        .unwrap();
        std::fs::write(
            defs.join("apps/app.sh"),
            "#!/bin/sh\necho app > /root/app\n",
        )
        .unwrap();
        site
    })
}
