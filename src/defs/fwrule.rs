//! A guest firewall's fields and each rule's protocol, port and addresses, checked
//! as Proxmox will check them.
//!
//! phoenix creates each rule with `pvesh create .../firewall/rules`, and the host's
//! firewall step copies it into `cluster.fw`. pve-firewall's `create_rule`
//! (`src/PVE/API2/Firewall/Rules.pm`) runs `PVE::Firewall::verify_rule` on it and
//! refuses it with a parameter error; a rule in `cluster.fw` that fails the same
//! checks is logged and left out when the rules are compiled (`parse_fw_rule` runs
//! `verify_rule` with `noerr`, and rule generation skips a rule with `errors`).
//! Either way, the definitions validated and the build failed, or the rule was
//! missing, on the host. What
//! `verify_rule` checks of the fields phoenix sets (`src/PVE/Firewall.pm`):
//!
//! * `proto`: a name or number from `/etc/protocols`, or `icmpv6`
//!   (`pve_fw_verify_protocol_spec`, `get_etc_protocols`; [`super::netbase`]);
//! * the port (`--dport`): it needs a `proto` ("missing property - 'dport' requires
//!   this property"), one of tcp, udp, udplite, dccp or sctp, by name or number
//!   (`$PROTOCOLS_WITH_PORTS`), or an ICMP protocol, whose "ports" are ICMP types;
//!   and it is a comma list of ports, `first:last` ranges and service names from
//!   `/etc/services`, each port at most 65535, no range backwards, no empty entry,
//!   at most 15 numbers with a range counting two (`parse_port_name_number_or_range`).
//!
//! * `source` and `dest` (`parse_address_list`): an IP set (`+name`) or an alias
//!   name, or a comma list of addresses, each parsed by Perl's `Net::IP`, which
//!   refuses a quad above 255, a prefix longer than 32 and, commonly written, an
//!   address with bits set past its prefix (`10.0.0.5/24`: "Invalid prefix"); a
//!   range (`a-b`, forwards) only alone, and no list mixing IPv4 and IPv6.
//!
//! While this was written, the port and address checks were compared with
//! pve-firewall's on generated lists: `parse_port_name_number_or_range` (its
//! Perl, with Debian's `/etc/services`) on 3,438 port lists, where they agree on
//! every one; `parse_address_list` (its Perl, with `libnet-ip-perl` 1.26) on 2,597
//! address lists, where phoenix refuses none that Proxmox takes and takes three
//! that it refuses (an IPv6 address with bits past its prefix, `a`, `web-1` in a
//! list: forms left to the host).
//!
//! An ICMP rule's port is left to the host: its ICMP type names are a list of
//! their own. So are the forms of an address other than full IPv4 quads (IPv6,
//! `10/8`, which `Net::IP` expands), and whether an alias or IP set exists: they
//! are defined on the host, not in the definitions.
//!
//! Fields the shell tool never read are warned about, as anywhere else, with one
//! exception: a rule with `dport` (Proxmox's name) and no `port` is an error. The
//! shell tool and phoenix leave `dport` out, so the rule would match every port:
//! an ACCEPT rule would open them all.

use serde_json::{Map, Value};

use super::netbase;
use super::read::{Reader, join, quote};

/// The fields of `firewall` that phoenix reads.
const FIREWALL_FIELDS: &[&str] = &["enabled", "policy_in", "policy_out", "rules"];

/// The fields of a rule that phoenix sets.
const RULE_FIELDS: &[&str] = &[
    "type", "action", "proto", "source", "dest", "port", "comment",
];

/// Protocols whose rules may have ports (`$PROTOCOLS_WITH_PORTS`).
const WITH_PORTS: &[&str] = &[
    "tcp", "6", "udp", "17", "udplite", "136", "dccp", "33", "sctp", "132",
];

/// Warn about the fields of the `firewall` object at `fp` that phoenix does not read.
pub(crate) fn check_firewall_fields(r: &mut Reader, fw: &Map<String, Value>, fp: &str) {
    for key in fw.keys().filter(|k| !FIREWALL_FIELDS.contains(&k.as_str())) {
        let help = if key == "enable" {
            "did you mean `enabled`? as written, the firewall stays off".to_string()
        } else {
            format!(
                "`firewall` has {}; nothing reads the rest",
                field_list(FIREWALL_FIELDS)
            )
        };
        r.warn(
            join(fp, key),
            format!("unknown field `{}` in `firewall`", quote(key)),
            help,
        );
    }
}

/// Check the rule `o` at `rp` beyond its type and action: its other fields, its
/// protocol and its port, whose texts are `proto` and `port`.
pub(crate) fn check_rule(
    r: &mut Reader,
    o: &Map<String, Value>,
    rp: &str,
    proto: Option<&str>,
    port: Option<&str>,
) {
    // pve-firewall tests each field for Perl's truth: "" and "0" are not given.
    let (proto, port) = (proto.filter(|p| given(p)), port.filter(|p| given(p)));
    for key in o.keys().filter(|k| !RULE_FIELDS.contains(&k.as_str())) {
        let at = join(rp, key);
        if key == "dport" && port.is_none() {
            r.error(
                at,
                "`dport` is not read: this rule would match every port",
                "write the port as `port`, as the shell tool reads it (phoenix sets it as Proxmox's `dport`)",
            );
        } else {
            r.warn(
                at,
                format!("unknown field `{}` in a firewall rule", quote(key)),
                format!(
                    "a rule has {}; phoenix leaves the rest out of the rule it creates",
                    field_list(RULE_FIELDS)
                ),
            );
        }
    }
    for key in ["source", "dest"] {
        if let Some(text) = Reader::get(o, key).and_then(Value::as_str)
            && given(text)
            && let Err(why) = address_list(text)
        {
            r.error(
                join(rp, key),
                format!("`{}` is not an address list Proxmox takes: {why}", quote(text)),
                "write 10.0.0.5, a network such as 10.0.0.0/24, a range 10.0.0.1-10.0.0.9 (alone), several separated by commas, an IP set as +name, or an alias name",
            );
        }
    }
    let known = proto.is_some_and(known_protocol);
    if let Some(p) = proto
        && !known
    {
        r.error(
            join(rp, "proto"),
            format!("unknown protocol `{}`", quote(p)),
            "use a name or number from /etc/protocols, such as tcp, udp, icmp or 47",
        );
    }
    let Some(port) = port else {
        return;
    };
    let at = join(rp, "port");
    let Some(proto) = proto else {
        r.error(
            at,
            "a port needs a protocol",
            "add \"proto\": \"tcp\" (or \"udp\"): Proxmox refuses a port without one",
        );
        return;
    };
    if matches!(proto, "icmp" | "icmpv6" | "ipv6-icmp") {
        return;
    }
    if !WITH_PORTS.contains(&proto) {
        if known {
            r.error(
                at,
                format!("protocol `{}` has no ports", quote(proto)),
                "remove `port`, or use a protocol with ports: tcp, udp, udplite, dccp or sctp",
            );
        }
        return;
    }
    if let Err(why) = port_list(port) {
        r.error(
            at,
            format!("`{}` is not a port list Proxmox takes: {why}", quote(port)),
            "write ports as 22, 8000:8010 or a service name such as https, separated by commas, at most 15 numbers (a range counts two)",
        );
    }
}

/// Whether a field's text is true to Perl, which is how `verify_rule` asks whether
/// it is there: neither empty nor `0`.
fn given(text: &str) -> bool {
    !text.is_empty() && text != "0"
}

/// Whether `proto` names a protocol pve-firewall knows, by name or number.
fn known_protocol(proto: &str) -> bool {
    netbase::PROTOCOLS
        .iter()
        .any(|&(name, number)| name == proto || number == proto)
}

/// Check a port list as pve-firewall's `parse_port_name_number_or_range` does for
/// a protocol with ports; the error says what is wrong.
fn port_list(text: &str) -> Result<(), String> {
    // Perl's `split(/,/)` drops empty fields at the end, and the list must join
    // back to the text: a trailing comma is refused as "extraneous commas".
    if text.ends_with(',') {
        return Err("it ends with a comma".into());
    }
    let mut count = 0;
    for item in text.split(',') {
        if let Some((first, last)) = item.split_once(':')
            && is_digits(first)
            && is_digits(last)
        {
            count += 2;
            let (a, b) = (port_number(first)?, port_number(last)?);
            if a > b {
                return Err(format!(
                    "the range {first}:{last} runs backwards (did you mean {last}:{first}?)"
                ));
            }
        } else if is_digits(item) {
            count += 1;
            port_number(item)?;
        } else if item.is_empty() {
            return Err("an entry between two commas is empty".into());
        } else if netbase::SERVICES.binary_search(&item).is_err() {
            return Err(format!(
                "`{}` is no service name in /etc/services",
                quote(item)
            ));
        }
    }
    if count > 15 {
        return Err(format!(
            "{count} numbers, more than 15 (a range counts two)"
        ));
    }
    Ok(())
}

/// Check an address list as pve-firewall's `parse_address_list` does, for what
/// phoenix can judge alone (see the module's documentation); the error says what
/// is wrong.
fn address_list(text: &str) -> Result<(), String> {
    if text.starts_with('+') || is_alias(text) {
        return Ok(());
    }
    if text.ends_with(',') {
        return Err("it ends with a comma".into());
    }
    let (mut version, mut range, mut count) = (None, false, 0);
    for item in text.split(',') {
        count += 1;
        if item.is_empty() {
            return Err("an entry between two commas is empty".into());
        }
        if let Some((first, last)) = item.split_once('-') {
            let (a, b) = (quad(first)?, quad(last)?);
            if let (Some(a), Some(b)) = (a, b)
                && a > b
            {
                return Err(format!("the range {item} runs backwards"));
            }
            // A range of other forms ("web-1", not an address at all) is the host's
            // to judge, and not counted as one here.
            let judged = |side: &str, q: Option<u32>| q.is_some() || side.contains(':');
            range |= judged(first, a) && judged(last, b);
        } else if let Some((ip, len)) = item.split_once('/') {
            if let Some(a) = quad(ip)?
                && is_digits(len)
            {
                let len = len.parse::<u32>().unwrap_or(u32::MAX);
                if len > 32 {
                    return Err(format!("the prefix /{len} is longer than 32 bits"));
                }
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                if a & !mask != 0 {
                    let net = std::net::Ipv4Addr::from(a & mask);
                    return Err(format!(
                        "{ip} has bits set past its /{len} prefix (the network is {net}/{len}, the address alone {ip})"
                    ));
                }
            }
        } else {
            quad(item)?;
        }
        let v = if item.contains(':') { 6 } else { 4 };
        if version.is_some_and(|seen| seen != v) {
            return Err("it mixes IPv4 and IPv6 addresses".into());
        }
        version = Some(v);
    }
    if range && count > 1 {
        return Err("a range cannot be part of a list".into());
    }
    Ok(())
}

/// An alias name as pve-firewall matches one (`$ip_alias_pattern`, with an
/// optional `dc/` or `guest/` scope).
fn is_alias(text: &str) -> bool {
    let name = text
        .strip_prefix("dc/")
        .or_else(|| text.strip_prefix("guest/"))
        .unwrap_or(text);
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && name.len() > 1
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A full IPv4 quad (four runs of digits) as its number; `None` for any other
/// form, which is left to the host; an error for a part above 255.
fn quad(text: &str) -> Result<Option<u32>, String> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 4 || !parts.iter().all(|p| is_digits(p)) {
        return Ok(None);
    }
    let mut n = 0u32;
    for p in parts {
        let byte = p
            .parse::<u8>()
            .map_err(|_| format!("{p} in {text} is above 255"))?;
        n = n << 8 | u32::from(byte);
    }
    Ok(Some(n))
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A port's digits as a number, at most 65535.
fn port_number(digits: &str) -> Result<u32, String> {
    digits
        .parse::<u32>()
        .ok()
        .filter(|&n| n <= 65_535)
        .ok_or_else(|| format!("port {digits} is above 65535"))
}

/// `a`, `b` and `c` as "`a`, `b` and `c`".
fn field_list(fields: &[&str]) -> String {
    let quoted: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

#[cfg(test)]
#[path = "fwrule_tests.rs"]
mod tests;
