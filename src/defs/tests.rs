//! The typed values a definitions directory is read into, and the diagnostics for
//! bad ones.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::*;

/// Load a directory holding these three files (`None`: the file is absent).
fn load_json(lxc: &Value, vms: Option<&Value>) -> (Definitions, Diagnostics) {
    let dir = tempfile::tempdir().unwrap();
    let host = json!({ "vm_defaults": { "ubuntu_release": "noble" } });
    std::fs::write(dir.path().join(layout::HYPERVISOR_FILE), host.to_string()).unwrap();
    std::fs::write(dir.path().join(layout::LXC_FILE), lxc.to_string()).unwrap();
    if let Some(vms) = vms {
        std::fs::write(dir.path().join(layout::VM_FILE), vms.to_string()).unwrap();
    }
    load(dir.path())
}

fn errors(diags: &Diagnostics) -> Vec<String> {
    diags
        .0
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect()
}

fn gpu_container() -> Value {
    json!({
        "nvidia_driver_version": "580.76.05",
        "lxc_configs": { "950": {
            "name": "vllm", "template": "/t/ubuntu.tar.zst", "storage_pool": "fast",
            "unprivileged": true, "memory_mb": 8192, "cores": 4, "storage_size_gb": 64,
            "swap_mb": 512, "start_at_boot": true, "boot_order": 3, "boot_delay": 5,
            "template_snapshot_name": "final-form",
            "network_config": { "name": "eth0", "bridge": "vmbr0", "ip": "10.0.0.50/24",
                                "gw": "10.0.0.1", "nameservers": "10.0.0.13, 1.1.1.1" },
            "mac_address": "52:54:00:aa:bb:50",
            "gpu_assignment": "0, 1",
            "pct_options": ["nesting=1", "keyctl=1"],
            "lxc_options": ["lxc.cap.drop="],
            "mount_points": [{ "host_path": "/srv/models", "container_path": "/models",
                               "owner_uid": 1000, "owner_gid": 1000 }],
            "zfs_volumes": [{ "name": "bulk", "pool": "fastData", "size_gb": 50,
                              "mount_point": "/bulk" }],
            "firewall": { "enabled": true, "rules": [
                { "type": "out", "action": "DROP", "proto": "tcp", "dest": "10.0.0.9", "port": 443 },
                { "source": "10.0.0.12", "proto": "udp", "port": "8000", "comment": "api" } ] },
            "vllm_engine_config": { "model": "Qwen" },
            "made_up_field": 7
        } }
    })
}

#[test]
fn a_container_is_read_into_the_types() {
    let (defs, diags) = load_json(&gpu_container(), None);
    assert!(errors(&diags).is_empty(), "{:?}", errors(&diags));
    let g = defs.guest(950).unwrap();
    assert_eq!(g.shape.os_template.as_deref(), Some("/t/ubuntu.tar.zst"));
    assert_eq!(g.shape.storage_pool.as_deref(), Some("fast"));
    assert!(g.shape.unprivileged);
    let s = &g.settings;
    assert_eq!(
        (s.memory_mb, s.cores, s.swap_mb, s.disk_gb),
        (Some(8192), Some(4), Some(512), Some(64))
    );
    assert_eq!(
        (s.start_at_boot, s.boot_order, s.boot_delay),
        (true, Some(3), Some(5))
    );
    assert_eq!(s.pct_features, ["nesting=1", "keyctl=1"]);
    assert_eq!(s.lxc_options, ["lxc.cap.drop="]);
    // It names a template snapshot, but Proxmox cannot snapshot it (a bind
    // mount) and nothing clones it: it is built as a plain container.
    assert_eq!(g.template, TemplateModel::None);
    assert!(!g.template.is_template());

    let net = &g.net;
    assert_eq!(
        (net.name.as_deref(), net.bridge.as_deref()),
        (Some("eth0"), Some("vmbr0"))
    );
    let address = Ipv4Addr::new(10, 0, 0, 50);
    assert_eq!(
        net.ip,
        Some(IpConfig::Static {
            address,
            prefix: 24
        })
    );
    assert_eq!(net.ip.unwrap().to_string(), "10.0.0.50/24");
    assert_eq!(net.gateway, Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(net.mac.as_deref(), Some("52:54:00:aa:bb:50"), "as written");
    assert_eq!(net.nameservers, ["10.0.0.13", "1.1.1.1"]);

    assert_eq!(g.devices.gpus, [0, 1]);
    assert_eq!(
        g.devices.gpu_device_paths().last().map(String::as_str),
        Some("/dev/nvidia1")
    );
    assert_eq!(
        g.mounts.binds,
        [BindMount {
            host_path: "/srv/models".into(),
            container_path: "/models".into(),
            owner_uid: Some(1000),
            owner_gid: Some(1000),
        }]
    );
    assert_eq!(
        g.mounts.volumes,
        [Volume {
            name: Some("bulk".into()),
            pool: "fastData".into(),
            size_gb: 50,
            mount_point: "/bulk".into(),
        }]
    );

    assert!(g.firewall.defined && g.firewall.enabled);
    let [out, inbound] = g.firewall.rules.as_slice() else {
        panic!("{:?}", g.firewall)
    };
    assert_eq!(
        (out.direction, out.action),
        (Direction::Out, RuleAction::Drop)
    );
    assert_eq!(
        (out.port.as_deref(), out.dest.as_deref()),
        (Some("443"), Some("10.0.0.9"))
    );
    assert_eq!(
        (inbound.direction, inbound.action),
        (Direction::In, RuleAction::Accept)
    );
    assert_eq!(inbound.comment.as_deref(), Some("api"));

    let app: Vec<&str> = g.app_fields.keys().map(String::as_str).collect();
    assert_eq!(app, ["made_up_field", "vllm_engine_config"]);
}

#[test]
fn vm_defaults_are_resolved_into_the_vm() {
    let vms = json!({
        "vm_defaults": { "cores": 2, "memory_mb": 4096, "disk_size_gb": 50,
                         "storage_pool": "vm-disks", "network_bridge": "vmbr1" },
        "vms": [
            { "vmid": 9000, "name": "tpl", "is_template": true,
              "template_image": "noble.img", "user_config": { "username": "phoenix" },
              "network_config": { "ip": "dhcp", "nameserver": "10.0.0.13" } },
            { "vmid": 1001, "name": "app", "clone_from_vmid": 9000, "cores": 6,
              "network_config": { "ip": "10.0.0.111/24", "gw": "10.0.0.1" },
              "volumes": [{ "type": "nfs", "server": "10.0.0.13", "path": "/export/1001",
                            "mount_point": "/persistent" }] }
        ]
    });
    let (defs, diags) = load_json(&json!({ "lxc_configs": {} }), Some(&vms));
    assert!(errors(&diags).is_empty(), "{:?}", errors(&diags));
    let tpl = defs.guest(9000).unwrap();
    assert_eq!(tpl.template, TemplateModel::Converted);
    assert_eq!(
        (tpl.settings.cores, tpl.settings.memory_mb),
        (Some(2), Some(4096))
    );
    assert_eq!(
        tpl.settings.disk_gb,
        Some(50),
        "a template gets the default disk"
    );
    assert_eq!(tpl.shape.storage_pool.as_deref(), Some("vm-disks"));
    assert_eq!(tpl.shape.ubuntu_release.as_deref(), Some("noble"));
    assert_eq!(tpl.shape.ci_user.as_deref(), Some("phoenix"));
    let image = tpl.shape.image.as_ref().unwrap();
    assert_eq!(
        image.url.as_deref(),
        Some("https://cloud-images.ubuntu.com/noble/current/noble.img")
    );
    assert_eq!(tpl.net.ip, Some(IpConfig::Dhcp));
    assert_eq!(tpl.net.bridge.as_deref(), Some("vmbr1"));
    assert_eq!(tpl.net.nameservers, ["10.0.0.13"]);

    let app = defs.guest(1001).unwrap();
    assert_eq!(
        (app.settings.cores, app.settings.memory_mb),
        (Some(6), Some(4096))
    );
    assert_eq!(
        app.settings.disk_gb, None,
        "a clone keeps its template's disk"
    );
    assert_eq!(app.shape.ubuntu_release, None);
    assert_eq!(app.mounts.nfs.len(), 1);
    assert_eq!(app.mounts.nfs[0].source(), "10.0.0.13:/export/1001");
}

/// A number below zero or with a fraction where a whole number belongs is told how
/// to write one; quotes are not what is wrong with it. A string still is.
#[test]
fn a_negative_or_fractional_count_is_not_told_to_drop_quotes() {
    let mut lxc = gpu_container();
    let ct = &mut lxc["lxc_configs"]["950"];
    ct["cores"] = json!(-1);
    ct["swap_mb"] = json!(1.5);
    ct["boot_order"] = json!("3");
    let (_, diags) = load_json(&lxc, None);
    let help = |field: &str| {
        let path = format!("lxc_configs.950.{field}");
        let d = diags.0.iter().find(|d| d.path == path);
        d.unwrap_or_else(|| panic!("no diagnostic at {path}: {diags:#?}"))
            .help
            .clone()
            .unwrap_or_default()
    };
    let whole = "write it as a whole number of 0 or more, without a sign or a decimal point";
    assert_eq!(help("cores"), whole);
    assert_eq!(help("swap_mb"), whole);
    assert_eq!(help("boot_order"), "write it as a number without quotes");
}

#[test]
fn bad_values_are_still_diagnosed_and_left_out() {
    let mut lxc = gpu_container();
    let ct = &mut lxc["lxc_configs"]["950"];
    ct["memory_mb"] = json!(0);
    ct["cores"] = json!("4");
    ct["network_config"]["ip"] = json!("10.0.0.300/24");
    ct["mac_address"] = json!("52:54:00:aa:bb");
    ct["gpu_assignment"] = json!("first");
    ct["firewall"]["rules"][0]["action"] = json!("ALLOW");
    let (defs, diags) = load_json(&lxc, None);
    let errors = errors(&diags);
    for wanted in [
        "lxc_configs.950.memory_mb: `memory_mb` is 0",
        "lxc_configs.950.cores: expected a whole number, found the string \"4\"",
        "lxc_configs.950.network_config.ip: `10.0.0.300/24` is not an IPv4 address with prefix length",
        "lxc_configs.950.mac_address: `52:54:00:aa:bb` is not a MAC address",
        "lxc_configs.950.gpu_assignment: `first` is not a GPU assignment",
        "lxc_configs.950.firewall.rules[0].action: rule action `ALLOW` is not ACCEPT, DROP or REJECT",
    ] {
        assert!(
            errors.iter().any(|e| e == wanted),
            "missing {wanted:?} in {errors:#?}"
        );
    }
    let g = defs.guest(950).unwrap();
    assert_eq!(g.settings.cores, None);
    assert_eq!(
        (g.net.ip, g.net.mac.as_deref(), g.net.static_address()),
        (None, None, None)
    );
    assert!(g.devices.gpus.is_empty());
}

/// A multicast MAC (the first byte odd) is an error, in either case of its
/// digits; the interface keeps it, as written.
#[test]
fn a_multicast_mac_is_an_error() {
    for (mac, multicast) in [
        ("53:54:00:aa:bb:cc", true),
        ("0F:54:00:AA:BB:CC", true),
        ("52:54:00:aa:bb:cc", false),
    ] {
        let mut lxc = gpu_container();
        lxc["lxc_configs"]["950"]["mac_address"] = json!(mac);
        let (defs, diags) = load_json(&lxc, None);
        let wanted = format!("lxc_configs.950.mac_address: `{mac}` is a multicast address");
        assert_eq!(
            errors(&diags).contains(&wanted),
            multicast,
            "{mac}: {:#?}",
            errors(&diags)
        );
        assert_eq!(defs.guest(950).unwrap().net.mac.as_deref(), Some(mac));
    }
}

#[test]
fn a_vm_with_its_own_settings_ignores_the_defaults() {
    let vms = json!({
        "vm_defaults": { "cores": 2, "memory_mb": 4096, "disk_size_gb": 50 },
        "vms": [{ "vmid": 9000, "name": "tpl", "is_template": true, "template_image": "a.img",
                  "cores": 8, "memory_mb": "lots", "disk_size_gb": 20,
                  "template_image_url": "https://example.org/a.img" }]
    });
    let (defs, diags) = load_json(&json!({ "lxc_configs": {} }), Some(&vms));
    let g = defs.guest(9000).unwrap();
    assert_eq!(g.settings.cores, Some(8));
    assert_eq!(
        g.settings.memory_mb, None,
        "a wrong value is not replaced by the default"
    );
    assert!(
        errors(&diags)
            .iter()
            .any(|e| e.starts_with("vms[0].memory_mb:"))
    );
    assert_eq!(g.settings.disk_gb, Some(20));
    let url = g.shape.image.as_ref().and_then(|i| i.url.as_deref());
    assert_eq!(url, Some("https://example.org/a.img"), "its own URL wins");
}

#[test]
fn addresses_and_name_servers_are_read_into_their_canonical_form() {
    let mut lxc = gpu_container();
    lxc["lxc_configs"]["950"]["network_config"]["ip"] = json!("10.0.0.50/024");
    let vms = json!({ "vms": [{ "vmid": 1001, "name": "app", "template_image": "a.img",
        "network_config": { "ip": "10.0.0.51/24", "gw": "10.0.0.1",
                            "nameserver": "10.0.0.13,1.1.1.1" } }] });
    let (defs, diags) = load_json(&lxc, Some(&vms));
    assert!(errors(&diags).is_empty(), "{:?}", errors(&diags));
    let ct = &defs.guest(950).unwrap().net;
    assert_eq!(
        ct.ip.map(|ip| ip.to_string()).as_deref(),
        Some("10.0.0.50/24")
    );
    assert_eq!(ct.nameservers, ["10.0.0.13", "1.1.1.1"]);
    let vm = &defs.guest(1001).unwrap().net;
    assert_eq!(
        vm.ip.map(|ip| ip.to_string()).as_deref(),
        Some("10.0.0.51/24")
    );
    assert_eq!(vm.nameservers, ["10.0.0.13", "1.1.1.1"]);
}

#[test]
fn a_volume_the_backend_could_not_make_is_an_error_not_left_out() {
    let mut lxc = gpu_container();
    lxc["lxc_configs"]["950"]["zfs_volumes"] =
        json!([{ "pool": "fastData", "mount_point": "/bulk" }]);
    let vms = json!({ "vms": [{ "vmid": 1001, "name": "app", "template_image": "a.img",
        "volumes": [{ "type": "nfs", "path": "/export/1001", "mount_point": "/data" }] }] });
    let (defs, diags) = load_json(&lxc, Some(&vms));
    let errors = errors(&diags);
    for wanted in [
        "lxc_configs.950.zfs_volumes[0]: missing `size_gb`",
        "vms[0].volumes[0]: an NFS volume needs `server`",
    ] {
        assert!(
            errors.iter().any(|e| e == wanted),
            "missing {wanted:?} in {errors:#?}"
        );
    }
    assert!(defs.guest(950).unwrap().mounts.volumes.is_empty());
    assert!(defs.guest(1001).unwrap().mounts.nfs.is_empty());
}

#[test]
fn firewall_policies_are_read_and_an_implicit_inbound_drop_is_named() {
    let warnings = |diags: &Diagnostics| -> Vec<String> {
        diags
            .0
            .iter()
            .filter(|d| !d.is_error())
            .map(|d| format!("{}: {}", d.path, d.message))
            .collect()
    };
    let (_, diags) = load_json(&gpu_container(), None);
    assert!(
        warnings(&diags)
            .iter()
            .any(|w| w
                .starts_with("lxc_configs.950.firewall: ct:950's firewall drops inbound traffic")),
        "{:#?}",
        warnings(&diags)
    );
    let mut lxc = gpu_container();
    lxc["lxc_configs"]["950"]["firewall"]["policy_in"] = json!("DROP");
    lxc["lxc_configs"]["950"]["firewall"]["policy_out"] = json!("ALLOW");
    let (defs, diags) = load_json(&lxc, None);
    let fw = &defs.guest(950).unwrap().firewall;
    assert_eq!(fw.policy_in, Some(RuleAction::Drop));
    assert_eq!(fw.policy_out, None);
    assert!(!warnings(&diags).iter().any(|w| w.contains("drops inbound")));
    assert!(
        errors(&diags).iter().any(|e| e
            == "lxc_configs.950.firewall.policy_out: policy `ALLOW` is not ACCEPT, DROP or REJECT"),
        "{:#?}",
        errors(&diags)
    );
}

#[test]
fn app_settings_reach_the_app_fields_without_a_warning_and_must_be_an_object() {
    let warnings = |diags: &Diagnostics| -> Vec<String> {
        diags
            .0
            .iter()
            .filter(|d| !d.is_error())
            .map(|d| format!("{}: {}", d.path, d.message))
            .collect()
    };
    let settings = json!({ "upstream": "10.0.0.9", "nested": { "retries": 3 } });
    let mut lxc = gpu_container();
    lxc["lxc_configs"]["950"]["app_settings"] = settings.clone();
    let vms = json!({ "vms": [{ "vmid": 1001, "name": "app", "template_image": "a.img",
                                "is_template": true, "app_settings": settings.clone() }] });
    let (defs, diags) = load_json(&lxc, Some(&vms));
    assert!(errors(&diags).is_empty(), "{:#?}", errors(&diags));
    let w = warnings(&diags);
    assert!(!w.iter().any(|w| w.contains("app_settings")), "{w:#?}");
    // Another unknown field still warns, and says where it could go.
    let unknown = diags
        .0
        .iter()
        .find(|d| d.path == "lxc_configs.950.made_up_field")
        .expect("made_up_field is warned about");
    let help = unknown.help.as_deref().unwrap_or_default();
    assert!(help.contains("app_settings"), "{help}");
    for id in [950, 1001] {
        let g = defs.guest(id).unwrap();
        assert_eq!(g.app_fields.get("app_settings"), Some(&settings), "{id}");
        assert_eq!(g.definition().get("app_settings"), Some(&settings), "{id}");
    }

    for bad in [json!("upstream=10.0.0.9"), json!(["10.0.0.9"]), json!(7)] {
        let mut lxc = gpu_container();
        lxc["lxc_configs"]["950"]["app_settings"] = bad.clone();
        let vms = json!({ "vms": [{ "vmid": 1001, "name": "app", "template_image": "a.img",
                                    "is_template": true, "app_settings": bad.clone() }] });
        let (_, diags) = load_json(&lxc, Some(&vms));
        let e = errors(&diags);
        for path in ["lxc_configs.950.app_settings", "vms[0].app_settings"] {
            assert!(
                e.iter()
                    .any(|e| e.starts_with(&format!("{path}: expected an object"))),
                "{bad}: {path} in {e:#?}"
            );
        }
    }
    // `null` is absent, as everywhere in the definitions.
    let mut lxc = gpu_container();
    lxc["lxc_configs"]["950"]["app_settings"] = Value::Null;
    assert!(errors(&load_json(&lxc, None).1).is_empty());
}
