use serde_json::{Value, json};

use super::{known_protocol, port_list};
use crate::defs::{Diagnostics, layout};

#[test]
fn port_lists_proxmox_takes_pass() {
    for ok in [
        "22",
        "0",
        "65535",
        "80,443",
        "8000:8010",
        "80:80",
        "https",
        "ssh,80:90,domain",
        // Fifteen numbers, a range counting two.
        "1:2,3:4,5:6,7:8,9:10,11:12,13:14,15",
    ] {
        assert_eq!(port_list(ok), Ok(()), "{ok}");
    }
}

#[test]
fn port_lists_proxmox_refuses_say_why() {
    for (bad, why) in [
        ("99999", "port 99999 is above 65535"),
        ("65536", "port 65536 is above 65535"),
        ("1:70000", "port 70000 is above 65535"),
        (
            "99999999999999999999999",
            "port 99999999999999999999999 is above 65535",
        ),
        (
            "90:80",
            "the range 90:80 runs backwards (did you mean 80:90?)",
        ),
        ("80,", "it ends with a comma"),
        ("80,,443", "an entry between two commas is empty"),
        (",80", "an entry between two commas is empty"),
        ("web", "`web` is no service name in /etc/services"),
        ("HTTPS", "`HTTPS` is no service name in /etc/services"),
        ("80-90", "`80-90` is no service name in /etc/services"),
        (
            "1:2,3:4,5:6,7:8,9:10,11:12,13:14,15:16",
            "16 numbers, more than 15 (a range counts two)",
        ),
    ] {
        assert_eq!(port_list(bad), Err(why.to_string()), "{bad}");
    }
}

#[test]
fn protocols_are_known_by_name_or_number_as_etc_protocols_writes_them() {
    for ok in [
        "tcp",
        "udp",
        "icmp",
        "icmpv6",
        "ipv6-icmp",
        "gre",
        "6",
        "17",
        "0",
        "262",
    ] {
        assert!(known_protocol(ok), "{ok}");
    }
    for bad in ["TCP", "06", "7", "300", "", "tcp6", "any"] {
        assert!(!known_protocol(bad), "{bad}");
    }
}

/// The diagnostics of a container whose firewall is `firewall`, each as
/// "severity path: message".
fn diagnostics_of(firewall: &Value) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let lxc = json!({ "lxc_configs": { "950": {
        "name": "web", "template": "/t/ubuntu.tar.zst", "storage_pool": "fast",
        "firewall": firewall,
    } } });
    std::fs::write(dir.path().join(layout::HYPERVISOR_FILE), "{}").unwrap();
    std::fs::write(dir.path().join(layout::LXC_FILE), lxc.to_string()).unwrap();
    let (_, diags): (_, Diagnostics) = crate::defs::load(dir.path());
    diags
        .0
        .iter()
        .filter(|d| d.path.contains("firewall"))
        .map(|d| {
            format!(
                "{} {}: {}",
                if d.is_error() { "error" } else { "warning" },
                d.path,
                d.message
            )
        })
        .collect()
}

#[test]
fn a_rules_protocol_and_port_are_checked_as_proxmox_checks_them() {
    let found = diagnostics_of(&json!({ "enabled": true, "policy_in": "ACCEPT", "rules": [
        { "type": "in", "action": "ACCEPT", "proto": "tcp", "port": "22" },
        { "type": "in", "action": "ACCEPT", "proto": 6, "port": 8080 },
        { "type": "in", "action": "ACCEPT", "proto": "tcp", "port": "99999" },
        { "type": "in", "action": "ACCEPT", "port": "22" },
        { "type": "in", "action": "ACCEPT", "proto": "gre", "port": "22" },
        { "type": "in", "action": "ACCEPT", "proto": "icmp", "port": "echo-request" },
        { "type": "in", "action": "ACCEPT", "proto": "tpc", "port": "22" },
        { "type": "in", "action": "ACCEPT", "proto": "udp", "port": "53," },
        { "type": "in", "action": "ACCEPT", "source": "10.0.0.0/24", "dest": "10.0.0.5/24" },
        // Not there, to Perl's truth: nothing to check.
        { "type": "in", "action": "ACCEPT", "proto": "", "port": "0", "source": "", "dest": "0" },
        { "type": "in", "action": "ACCEPT", "proto": "0", "port": "" },
    ] }));
    let p = "lxc_configs.950.firewall.rules";
    assert_eq!(
        found,
        [
            format!(
                "error {p}[2].port: `99999` is not a port list Proxmox takes: port 99999 is above 65535"
            ),
            format!("error {p}[3].port: a port needs a protocol"),
            format!("error {p}[4].port: protocol `gre` has no ports"),
            format!("error {p}[6].proto: unknown protocol `tpc`"),
            format!(
                "error {p}[7].port: `53,` is not a port list Proxmox takes: it ends with a comma"
            ),
            format!(
                "error {p}[8].dest: `10.0.0.5/24` is not an address list Proxmox takes: 10.0.0.5 has bits set past its /24 prefix (the network is 10.0.0.0/24, the address alone 10.0.0.5)"
            ),
        ]
    );
}

#[test]
fn fields_phoenix_does_not_read_are_named_and_dport_alone_is_refused() {
    let found = diagnostics_of(&json!({ "enable": true, "policy_in": "ACCEPT", "rules": [
        { "type": "in", "action": "ACCEPT", "proto": "tcp", "dport": "22" },
        { "type": "in", "action": "ACCEPT", "proto": "tcp", "port": "22", "dport": "23" },
        { "type": "in", "action": "ACCEPT", "proto": "tcp", "port": "22", "log": "info" },
    ] }));
    let p = "lxc_configs.950.firewall";
    assert_eq!(
        found,
        [
            format!("warning {p}.enable: unknown field `enable` in `firewall`"),
            format!(
                "error {p}.rules[0].dport: `dport` is not read: this rule would match every port"
            ),
            format!("warning {p}.rules[1].dport: unknown field `dport` in a firewall rule"),
            format!("warning {p}.rules[2].log: unknown field `log` in a firewall rule"),
        ]
    );
}

#[test]
fn address_lists_proxmox_takes_or_that_are_left_to_the_host_pass() {
    for ok in [
        "10.0.0.5",
        "10.0.0.0/24",
        "0.0.0.0/0",
        "10.0.0.05",
        "10.0.0.1-10.0.0.5",
        "10.0.0.5,10.0.0.6,10.0.0.0/8",
        "+trusted",
        "guest/web",
        "dc/lan_net",
        // Forms Net::IP expands or that are IPv6: left to the host.
        "10/8",
        "2001:db8::/32",
        "2001:db8::1,2001:db8::2",
    ] {
        assert_eq!(super::address_list(ok), Ok(()), "{ok}");
    }
}

#[test]
fn address_lists_proxmox_refuses_say_why() {
    for (bad, why) in [
        (
            "10.0.0.5/24",
            "10.0.0.5 has bits set past its /24 prefix (the network is 10.0.0.0/24, the address alone 10.0.0.5)",
        ),
        ("10.0.0.300", "300 in 10.0.0.300 is above 255"),
        ("10.0.0.0/33", "the prefix /33 is longer than 32 bits"),
        (
            "10.0.0.5-10.0.0.1",
            "the range 10.0.0.5-10.0.0.1 runs backwards",
        ),
        (
            "10.0.0.1-10.0.0.5,10.0.0.9",
            "a range cannot be part of a list",
        ),
        ("10.0.0.1,2001:db8::1", "it mixes IPv4 and IPv6 addresses"),
        ("10.0.0.1,", "it ends with a comma"),
        ("10.0.0.1,,10.0.0.2", "an entry between two commas is empty"),
    ] {
        assert_eq!(super::address_list(bad), Err(why.to_string()), "{bad}");
    }
}

/// A service name is found by binary search, so the table must stay sorted (and
/// hold each name once); the protocols name each protocol once.
#[test]
fn the_netbase_tables_are_sorted_and_hold_each_name_once() {
    let services = crate::defs::netbase::SERVICES;
    assert!(
        services.windows(2).all(|w| w[0] < w[1]),
        "SERVICES out of order"
    );
    assert!(services.contains(&"https") && services.contains(&"ssh"));
    let protocols = crate::defs::netbase::PROTOCOLS;
    let mut names: Vec<&str> = protocols.iter().map(|p| p.0).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), protocols.len(), "a protocol named twice");
}
