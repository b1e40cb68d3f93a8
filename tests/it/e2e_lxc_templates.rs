//! End to end on real LXC containers: a chain of converted templates
//! (`is_template`) and their clones, built, left alone, rebuilt from the bottom
//! and destroyed, as `e2e_lxc` does for the bundled definitions (and skipping,
//! or failing in CI, the same way), on the tests' network and under an LXC path
//! and prefix (`phxc-`) of its own. Every container is unprivileged: the overlay
//! clones of a converted template share its root filesystem, owned by the map.
//!
//! The tree: 900 converted (the busybox root filesystem the lxc backend makes,
//! with `enable_lifecycle_snapshots`, which a converted template ignores), 901 a
//! converted clone of 900 with a feature of its own, 910 a snapshot template
//! cloned from 901 with lifecycle snapshots, 950 a service cloned from 901 (with
//! a second interface) and 951 one cloned from 910's snapshot.

use std::path::Path;

use serde_json::json;

use super::e2e_lxc::serial;
use crate::helpers::Site;
use crate::helpers::lxc::{BRIDGE, GATEWAY, LxcSite, addr};

/// The definitions, with scripts that leave their mark in `/opt/phoenix`.
fn write_defs(defs: &Path) {
    let ct = |name: &str, last: u8, extra: serde_json::Value| {
        let mut v = json!({
            "name": name, "memory_mb": 256, "cores": 1, "storage_pool": "local-lvm",
            "storage_size_gb": 1, "unprivileged": true, "start_at_boot": false,
            "network_config": { "name": "eth0", "bridge": BRIDGE,
                                "ip": format!("{}/24", addr(last)), "gw": GATEWAY },
            "mac_address": format!("52:54:00:00:19:{last:02x}")
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let lxc = json!({ "lxc_configs": {
        "900": ct("tpl-base", 190, json!({
            "is_template": true, "template": "local:vztmpl/busybox.tar.zst",
            "enable_lifecycle_snapshots": true, "features": ["base"] })),
        "901": ct("tpl-tools", 191, json!({
            "is_template": true, "clone_from_ctid": "900", "features": ["tools"] })),
        "910": ct("tpl-svc", 192, json!({
            "clone_from_ctid": "901", "template_snapshot_name": "svc-ready",
            "enable_lifecycle_snapshots": true, "features": ["svc"] })),
        "950": ct("svc-a", 195, json!({
            "clone_from_ctid": "901", "application_script": "svc.sh",
            "secondary_network_config": { "name": "eth1", "bridge": BRIDGE,
                "ip": "172.16.190.50/24", "hwaddr": "02:00:00:00:19:51" } })),
        "951": ct("svc-b", 196, json!({
            "clone_from_ctid": "910", "application_script": "svc.sh" })),
    }});
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
    for f in ["base", "tools", "svc"] {
        write(
            &format!("features/lxc/{f}.sh"),
            &format!(
                "#!/bin/sh\nset -eu\nmkdir -p /opt/phoenix/{f}\necho v1 > /opt/phoenix/{f}/version\n"
            ),
        );
    }
    write(
        "apps/svc.sh",
        "#!/bin/sh\nset -eu\necho \"svc $1: $(ls /opt/phoenix | tr '\\n' ' ')\"\n",
    );
}

fn site() -> Option<LxcSite> {
    LxcSite::new("phxc-", Some(serial()), || {
        let site = Site::empty();
        write_defs(&site.defs);
        site
    })
}

fn lxc(site: &LxcSite, tool: &str, name: &str, rest: &[&str]) -> String {
    site.lxc(tool, name, rest)
}

fn file(site: &LxcSite, name: &str, rel: &str) -> String {
    std::fs::read_to_string(site.lxcpath.join(name).join(rel)).unwrap_or_default()
}

fn config_value(site: &LxcSite, name: &str, key: &str) -> String {
    file(site, name, "config")
        .lines()
        .rev()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// The kernel can mount overlayfs: then a clone of a converted template is an
/// overlay snapshot clone on a directory store (what this machine showed).
fn overlay_here() -> bool {
    std::fs::read_to_string("/proc/filesystems").is_ok_and(|t| t.contains("overlay"))
}

/// Where `text` first names each of `ids`.
fn order(text: &str, ids: &[&str]) -> Vec<usize> {
    ids.iter()
        .map(|id| {
            text.find(id)
                .unwrap_or_else(|| panic!("{id} not in\n{text}"))
        })
        .collect()
}

#[test]
fn a_chain_of_converted_templates_builds_rebuilds_and_goes_for_real() {
    let Some(site) = site() else { return };
    let out = site.build(&["all"]).success();
    let s = out.summary();
    for n in ["ct:900", "ct:901", "ct:910", "ct:950", "ct:951"] {
        assert_eq!(s["nodes"][n], "built", "{n}: {}", out.stdout);
    }
    // Converted templates: stopped, marked, never started at boot, no snapshots
    // (900's lifecycle snapshots do not apply to a converted template).
    for t in ["phxc-900", "phxc-901"] {
        assert!(lxc(&site, "lxc-info", t, &["-s"]).contains("STOPPED"));
        assert_eq!(file(&site, t, "phoenix-template"), "template\n", "{t}");
        assert_eq!(config_value(&site, t, "lxc.start.auto"), "0", "{t}");
        assert!(file(&site, t, "phoenix-stamp").starts_with("built:"));
    }
    assert_eq!(
        out.steps_of("ct:900"),
        [
            "define",
            "configure",
            "start",
            "snapshot:pre-base",
            "feature:base",
            "template"
        ]
    );
    let mut names = site.containers();
    names.sort();
    assert_eq!(
        names,
        [
            "phxc-900",
            "phxc-901",
            "phxc-910",
            "phxc-910--final-form",
            "phxc-910--pre-configured",
            "phxc-910--pre-svc",
            "phxc-910--svc-ready",
            "phxc-950",
            "phxc-951"
        ],
        "templates hold no snapshots; 910 holds its own and its lifecycle snapshots"
    );
    let steps = out.steps_of("ct:910");
    assert!(
        steps.contains(&"snapshot:pre-configured".to_string())
            && steps.contains(&"snapshot:final-form".to_string()),
        "{steps:?}"
    );
    // Clones of a converted template are snapshot clones: overlays on the
    // template's root filesystem, recorded by liblxc; 951, a clone of 910's
    // snapshot, is a full copy (as Proxmox clones from a snapshot in full).
    let base = site.lxcpath.join("phxc-900/rootfs").display().to_string();
    for clone in ["phxc-901", "phxc-910", "phxc-950"] {
        let rootfs = config_value(&site, clone, "lxc.rootfs.path");
        if overlay_here() {
            assert!(
                rootfs.starts_with(&format!("overlay:{base}:")),
                "{clone}: {rootfs}"
            );
            assert!(file(&site, "phxc-900", "lxc_snapshots").contains(clone));
        } else {
            assert!(rootfs.starts_with("dir:"), "{clone}: {rootfs}");
        }
    }
    assert!(config_value(&site, "phxc-951", "lxc.rootfs.path").starts_with("dir:"));
    // The services run with every layer, 950 with its second interface.
    for svc in ["phxc-950", "phxc-951"] {
        assert!(lxc(&site, "lxc-info", svc, &["-s"]).contains("RUNNING"));
    }
    let layers = lxc(
        &site,
        "lxc-attach",
        "phxc-951",
        &["--", "ls", "/opt/phoenix"],
    );
    assert_eq!(
        layers.split_whitespace().collect::<Vec<_>>(),
        ["base", "svc", "tools"]
    );
    // The overlay clone runs unprivileged on its template's files.
    let map = site.attach("phxc-950", &["cat", "/proc/self/uid_map"]);
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"],
        "{map}"
    );
    let eth1 = lxc(
        &site,
        "lxc-attach",
        "phxc-950",
        &["--", "ip", "addr", "show", "eth1"],
    );
    assert!(
        eth1.contains("02:00:00:00:19:51") && eth1.contains("172.16.190.50/24"),
        "{eth1}"
    );
    assert_eq!(
        config_value(&site, "phxc-950", "lxc.net.1.hwaddr"),
        "02:00:00:00:19:51"
    );

    // A template with clones is not destroyed on its own, and says which.
    let refused = site.phoenix().args(["destroy", "900", "--yes"]).run();
    assert_ne!(refused.code, 0);
    let text = format!("{}{}", refused.stdout, refused.stderr);
    assert!(
        text.contains("ct:901 (phxc-901)") && text.contains("has clones"),
        "{text}"
    );
    assert!(site.containers().contains(&"phxc-900".to_string()));

    // Nothing changed: nothing runs (the inventory reports templates with their stamps).
    let out = site.build(&["all"]).success();
    assert_eq!(out.summary()["steps_run"], 0, "{}", out.stdout);

    // A new base layer: every template and clone is made again, the template's
    // linked clones destroyed before it.
    let base_sh = site.defs.join("features/lxc/base.sh");
    let text = std::fs::read_to_string(&base_sh).unwrap();
    std::fs::write(
        &base_sh,
        format!("{text}echo v2 > /opt/phoenix/base/version\n"),
    )
    .unwrap();
    let out = site.build(&["all", "--allow-replace"]).success();
    for n in ["ct:900", "ct:901", "ct:910", "ct:950", "ct:951"] {
        assert_eq!(
            out.steps_of(n).first().map(String::as_str),
            Some("define"),
            "{n}"
        );
    }
    let log = std::fs::read_to_string(site.cache.join("logs/ct-900.log")).unwrap();
    let rebuild = &log[log.rfind("== replace ct:900").unwrap()..];
    let destroyed: Vec<&str> = rebuild
        .lines()
        .filter(|l| l.starts_with("$ lxc-destroy"))
        .filter_map(|l| l.rsplit(' ').next())
        .collect();
    let at: Vec<Option<usize>> = ["phxc-910", "phxc-950", "phxc-901", "phxc-900"]
        .iter()
        .map(|n| destroyed.iter().position(|d| d == n))
        .collect();
    assert!(
        at.iter().all(Option::is_some) && at.is_sorted(),
        "linked clones go first, deepest first: {destroyed:?}"
    );
    let detail = out.finished("ct:900")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(detail.contains("destroying ct:901 first"), "{detail}");
    let version = lxc(
        &site,
        "lxc-attach",
        "phxc-951",
        &["--", "cat", "/opt/phoenix/base/version"],
    );
    assert_eq!(version.trim(), "v2", "951 is built on the new base");

    // Teardown: dependents first, then the templates; nothing is left.
    let out = site
        .phoenix()
        .args(["destroy", "all", "--yes"])
        .run()
        .success();
    let at = order(&out.stdout, &["ct:951", "ct:910", "ct:901", "ct:900"]);
    assert!(at.is_sorted(), "{}", out.stdout);
    assert!(
        order(&out.stdout, &["ct:950", "ct:901"]).is_sorted(),
        "{}",
        out.stdout
    );
    assert!(site.containers().is_empty(), "{:?}", site.containers());
}
