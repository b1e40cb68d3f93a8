//! The stand-in's guest firewall rules, as pve-firewall keeps and checks them
//! (`src/PVE/API2/Firewall/Rules.pm`, `src/PVE/Firewall.pm`).

use serde_json::{Value, json};

use super::rules::pve;

#[test]
fn firewall_rules_go_on_top_disabled_unless_enabled_and_move() {
    let Some(p) = pve() else { return };
    p.ct(200, "local-lvm:4");
    let rules = "/nodes/pve/lxc/200/firewall/rules";
    p.ok(&format!(
        "pvesh create {rules} --type in --action ACCEPT --proto tcp --dport 22 --pos 5"
    ));
    p.ok(&format!(
        "pvesh create {rules} --type in --action ACCEPT --proto tcp --dport 80 --enable 1"
    ));
    p.ok(&format!(
        "pvesh create {rules} --type in --action ACCEPT --proto tcp --dport 80 --enable 1"
    ));
    let get = || -> Vec<(u64, String, u64)> {
        let v: Value = serde_json::from_str(&p.ok(&format!("pvesh get {rules}"))).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["pos"].as_u64().unwrap(),
                    r["dport"].as_str().unwrap().to_string(),
                    r["enable"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let dports = |v: Vec<(u64, String, u64)>| v.into_iter().map(|r| r.1).collect::<Vec<_>>();
    assert_eq!(
        get(),
        [
            (0, "80".into(), 1),
            (1, "80".into(), 1),
            (2, "22".into(), 0)
        ]
    );
    p.ok(&format!("pvesh set {rules}/2 --moveto 0"));
    assert_eq!(dports(get()), ["22", "80", "80"]);
    p.ok(&format!("pvesh set {rules}/0 --moveto 2"));
    assert_eq!(dports(get()), ["80", "22", "80"], "before the old index 2");
    p.refused(&format!("pvesh delete {rules}/3"), "no rule at position 3");
    p.ok(&format!("pvesh delete {rules}/1"));
    assert_eq!(dports(get()), ["80", "80"]);
    let opts = "/nodes/pve/lxc/200/firewall/options";
    p.ok(&format!("pvesh set {opts} --enable 1"));
    p.ok(&format!("pvesh set {opts} --policy_in DROP"));
    let o: Value = serde_json::from_str(&p.ok(&format!("pvesh get {opts}"))).unwrap();
    assert_eq!(o, json!({"enable": 1, "policy_in": "DROP"}), "merged");
}

/// `create_rule` and `update_rule` run `PVE::Firewall::verify_rule`: a port needs
/// a protocol that has ports, each port is at most 65535, a range runs forwards,
/// a name is a service of /etc/services, a protocol is one of /etc/protocols, and
/// an address is one Perl's `Net::IP` takes (no bits set past its prefix).
/// The first error is the one reported, as a parameter error.
#[test]
fn a_rule_proxmox_would_refuse_is_refused_with_its_message() {
    let Some(p) = pve() else { return };
    p.ct(200, "local-lvm:4");
    let rules = "/nodes/pve/lxc/200/firewall/rules";
    let create = |rest: &str| format!("pvesh create {rules} --type in --action ACCEPT {rest}");
    for (rest, msg) in [
        (
            "--dport 22",
            "proto: missing property - 'dport' requires this property",
        ),
        ("--proto tcp --dport 99999", "dport: invalid port '99999'"),
        (
            "--proto tcp --dport 90:80",
            "dport: backwards range '90:80' not allowed, did you mean '80:90'?",
        ),
        (
            "--proto tcp --dport 80,",
            "dport: extraneous commas in list",
        ),
        ("--proto tcp --dport web", "dport: invalid port 'web'"),
        (
            "--proto gre --dport 22",
            "dport: protocol 'gre' does not support ports",
        ),
        ("--proto tpc --dport 22", "proto: unknown protocol 'tpc'"),
        (
            "--proto tcp --sport 1:2,3:4,5:6,7:8,9:10,11:12,13:14,15:16",
            "sport: too many entries in port list (> 15 numbers)",
        ),
        (
            "--source 10.0.0.5/24",
            "source: invalid IP address: Invalid prefix 00001010000000000000000000000101/24",
        ),
        (
            "--dest 10.0.0.1-10.0.0.5,10.0.0.9",
            "dest: you can't use a range in a list",
        ),
    ] {
        p.refused(&create(rest), msg);
    }
    let get = || -> Value { serde_json::from_str(&p.ok(&format!("pvesh get {rules}"))).unwrap() };
    assert_eq!(get(), json!([]), "nothing refused was kept");
    for rest in [
        "--proto tcp --dport 22",
        "--proto 6 --dport 8000:8010,https",
        "--proto icmp --dport echo-request",
        "--proto udp",
    ] {
        p.ok(&create(rest));
    }
    // An update is checked as the rule it makes, and a refused one changes nothing.
    p.refused(
        &format!("pvesh set {rules}/3 --delete proto"),
        "proto: missing property - 'dport' requires this property",
    );
    p.ok(&format!("pvesh set {rules}/0 --dport 53"));
    assert_eq!(get()[0]["dport"], "53");
    assert_eq!(get()[0]["proto"], "udp");
    assert_eq!(get()[3]["dport"], "22");
    assert_eq!(
        get()[3]["proto"],
        "tcp",
        "the refused update changed nothing"
    );
}
