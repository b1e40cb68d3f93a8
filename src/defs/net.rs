//! A container's network interfaces: `net0` from `network_config` and
//! `mac_address`, `net1` from `secondary_network_config` (2025-11), each checked
//! the way Proxmox will take it (pve-container `PVE::LXC::Config` `$netconf_desc`).

use serde_json::{Map, Value};

use super::model::Guest;
use super::read::{At, Fields, Reader, join, quote};
use super::settings::{IpConfig, Network};
use super::values;

/// `mac_address`, then `network_config` over it (its `hwaddr`, when given, is the
/// interface's MAC, as in the shell tool from 2025-11), then
/// `secondary_network_config` as `net1`.
pub(crate) fn read_ct_networks(r: &mut Reader, raw: &Fields, p: &str, g: &mut Guest) {
    let mac_address = r.s(raw, p, "mac_address");
    if let Some(mac) = mac_address {
        g.net.mac = values::check_mac(r, At(p, "mac_address"), mac).then(|| mac.to_string());
    }
    if let Some(net) = r.object(raw, p, "network_config") {
        let np = join(p, "network_config");
        read_interface(r, net, &np, &mut g.net);
        if let (Some(mac), Some(hwaddr)) = (mac_address, net.get("hwaddr").and_then(Value::as_str))
            && !mac.eq_ignore_ascii_case(hwaddr)
        {
            r.warn(
                join(&np, "hwaddr"),
                format!(
                    "`hwaddr` {} differs from `mac_address` {}: the interface gets {}",
                    quote(hwaddr),
                    quote(mac),
                    quote(hwaddr)
                ),
                "`network_config.hwaddr` wins, as in the shell tool since 2025-11; remove `mac_address` or make them equal",
            );
        }
    }
    if let Some(net) = r.object(raw, p, "secondary_network_config") {
        let np = join(p, "secondary_network_config");
        let mut second = Network::default();
        read_interface(r, net, &np, &mut second);
        if second.name.is_none() && Reader::get(net, "name").is_none() {
            second.name = Some("eth1".into());
        }
        if second.bridge.is_none() && Reader::get(net, "bridge").is_none() {
            r.error(
                np.clone(),
                "missing `bridge`",
                "say which bridge the second interface is on, e.g. \"bridge\": \"vmbr100\"",
            );
        }
        let first = g.net.name.as_deref().unwrap_or("eth0");
        if second.name.as_deref() == Some(first) {
            r.error(
                join(&np, "name"),
                format!("`{}` is also the name of `network_config`", quote(first)),
                "give the second interface its own name inside the container, e.g. \"eth1\"",
            );
        }
        g.net1 = Some(Box::new(second));
    }
}

/// One interface object (`network_config`, `secondary_network_config`).
fn read_interface(r: &mut Reader, net: &Map<String, Value>, np: &str, to: &mut Network) {
    to.name = r.str(net, np, "name");
    if let Some(name) = &to.name {
        check_word(r, At(np, "name"), name, "interface name");
    }
    to.bridge = r.str(net, np, "bridge");
    if let Some(bridge) = &to.bridge {
        check_word(r, At(np, "bridge"), bridge, "bridge");
    }
    r.s(net, np, "gw");
    let nameservers = r.s(net, np, "nameservers");
    to.nameservers = nameservers.map(name_list).unwrap_or_default();
    values::check_name_servers(r, At(np, "nameservers"), &to.nameservers);
    if let Some(ip) = r.s(net, np, "ip") {
        to.ip = values::check_ip(r, At(np, "ip"), ip);
    }
    if let Some(gw) = net.get("gw").and_then(Value::as_str) {
        to.gateway = values::check_plain_ip(r, At(np, "gw"), gw);
    }
    if let (Some(IpConfig::Dhcp), Some(gw)) = (to.ip, to.gateway) {
        // Proxmox keeps `gw` beside `ip=dhcp`; what the guest does with it is the
        // distribution's: pve-container `PVE::LXC::Setup::Debian::setup_network`
        // writes `iface inet dhcp` without it, `PVE::LXC::Setup::Base::
        // setup_systemd_networkd` (Ubuntu) writes `Gateway =` beside `DHCP = ipv4`.
        r.warn(
            join(np, "gw"),
            format!("gateway {gw} is kept beside `ip: dhcp`"),
            "on Ubuntu (systemd-networkd) it becomes a default route beside the one DHCP gives, on Debian (ifupdown) it is ignored; remove `gw` to take the router from DHCP",
        );
    }
    if let Some(mac) = r.s(net, np, "hwaddr") {
        to.mac = values::check_mac(r, At(np, "hwaddr"), mac).then(|| mac.to_string());
    }
}

/// Interface and bridge names as Proxmox takes them (`$netconf_desc`: pattern
/// `[-_.\w\d]+`); anything else would end the `--net0` value early. Control
/// characters are left to `checks::check_control_characters`, which names them.
fn check_word(r: &mut Reader, path: At<'_>, value: &str, what: &str) {
    let ok = value.chars().any(char::is_control)
        || (!value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
    if !ok {
        r.error(
            path,
            format!("`{}` is not a valid {what}", quote(value)),
            "use letters, digits, `-`, `_` and `.` only",
        );
    }
}

/// Name servers as written (`"10.0.0.13"`, `"10.0.0.13, 1.1.1.1"`), one per entry.
pub(crate) fn name_list(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
