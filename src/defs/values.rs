//! Value checks for fields phoenix passes to Proxmox: hostnames, addresses, MACs,
//! GPU lists. A bad value here would otherwise fail twenty minutes into a build.

use std::net::Ipv4Addr;

use serde_json::Value;

use super::read::{At, Obj, Reader, join, quote};
use super::settings::{IpConfig, parse_mac};

pub(crate) fn positive(
    r: &mut Reader,
    obj: &(impl Obj + ?Sized),
    base: &str,
    key: &str,
) -> Option<u64> {
    let v = r.uint(obj, base, key)?;
    if v == 0 {
        r.error(
            join(base, key),
            format!("`{key}` is 0"),
            format!("give `{key}` a value above zero"),
        );
    }
    Some(v)
}

/// [`positive`], then within what Proxmox takes for the option it becomes: from
/// `min` up to `max` (`None`: no upper bound), in `unit`.
pub(crate) fn positive_within(
    r: &mut Reader,
    obj: &(impl Obj + ?Sized),
    base: &str,
    key: &str,
    (min, max): (u64, Option<u64>),
    unit: &str,
) -> Option<u64> {
    let v = positive(r, obj, base, key)?;
    if v != 0 && (v < min || max.is_some_and(|m| v > m)) {
        let range = match max {
            Some(m) => format!("{min} to {m}{unit}"),
            None => format!("at least {min}{unit}"),
        };
        r.error(
            join(base, key),
            format!("`{key}` is {v}: Proxmox takes {range}"),
            format!("give `{key}` a value of {range}"),
        );
    }
    Some(v)
}

/// Name servers as Proxmox takes them (`nameserver`: pve-container's
/// `lxc-ip-with-ll-iface-list`, qemu-server's `address-list`; each entry checked
/// by pve-common `PVE::JSONSchema::pve_verify_ip`, whose `$IPV4RE` takes four
/// parts of up to three digits, each at most 255). An IPv4 entry is checked here;
/// an entry with `:` (IPv6) is left to the host; anything else, a host name such
/// as `dns.google`, is no address.
pub(crate) fn check_name_servers(r: &mut Reader, path: At<'_>, servers: &[String]) {
    for server in servers {
        let parts: Vec<&str> = server.split('.').collect();
        let ipv4 = parts.len() == 4
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.len() <= 3
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && p.parse::<u16>().is_ok_and(|n| n <= 255)
            });
        if !ipv4 && !server.contains(':') {
            r.error(
                path,
                format!("name server `{}` is not an IP address", quote(server)),
                "write each name server as an IP address such as 10.0.0.13 (each part 0 to 255), separated by commas or spaces; Proxmox takes no host names here",
            );
        }
    }
}

/// Proxmox hostnames are DNS names: letters, digits, `-` and `.`, no leading `-`.
pub(crate) fn check_hostname(r: &mut Reader, path: At<'_>, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !ok {
        r.error(
            path,
            format!("`{}` is not a valid hostname", quote(name)),
            "use letters, digits and `-` (no spaces, no leading or trailing `-`)",
        );
    }
}

pub(crate) fn check_snapshot_name(r: &mut Reader, path: At<'_>, name: &str) {
    // pve-common `PVE::JSONSchema`: `pve-snapshot-name` is a `pve-configid`
    // (`$CONFIGID_RE`, `[a-z][a-z0-9_-]+` without regard to case: a letter, then
    // at least one more) of at most 40 characters.
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        r.error(
            path,
            format!("`{}` is not a valid snapshot name", quote(name)),
            "start with a letter, then at least one more letter, digit, `-` or `_`",
        );
    } else if name.len() > SNAPSHOT_NAME_MAX {
        r.error(
            path,
            format!(
                "snapshot name `{name}` is {} characters long; Proxmox takes at most {SNAPSHOT_NAME_MAX}",
                name.len()
            ),
            "shorten it",
        );
    }
}

/// The longest snapshot name Proxmox takes (pve-common `pve-snapshot-name`,
/// `maxLength`).
pub(crate) const SNAPSHOT_NAME_MAX: usize = 40;

/// `dhcp`, `manual`, or an IPv4 address with a prefix length (`10.0.0.5/24`).
pub(crate) fn check_ip(r: &mut Reader, path: At<'_>, ip: &str) -> Option<IpConfig> {
    match ip {
        "dhcp" => return Some(IpConfig::Dhcp),
        "manual" => return Some(IpConfig::Manual),
        _ => {}
    }
    let parsed = ip.split_once('/').and_then(|(addr, prefix)| {
        let address: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        (prefix <= 32).then_some(IpConfig::Static { address, prefix })
    });
    if parsed.is_none() {
        r.error(
            path,
            format!("`{}` is not an IPv4 address with prefix length", quote(ip)),
            "write it as 10.0.0.5/24, or \"dhcp\"",
        );
    }
    parsed
}

/// A guest's `node`: the Proxmox node it lives on, a name as Proxmox takes one
/// (pve-common `PVE::JSONSchema` format `pve-node`: letters, digits and inner
/// hyphens).
pub(crate) fn node_name(r: &mut Reader, obj: &(impl Obj + ?Sized), base: &str) -> Option<String> {
    let name = r.str(obj, base, "node")?;
    let ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        r.error(
            join(base, "node"),
            format!("`{}` is not a Proxmox node name", quote(&name)),
            "give the node's name as `pvecm nodes` lists it (letters, digits, inner hyphens), e.g. \"pve2\"",
        );
        return None;
    }
    Some(name)
}

pub(crate) fn check_plain_ip(r: &mut Reader, path: At<'_>, ip: &str) -> Option<Ipv4Addr> {
    let parsed = ip.parse::<Ipv4Addr>().ok();
    if parsed.is_none() {
        r.error(
            path,
            format!("`{}` is not an IPv4 address", quote(ip)),
            "write it as 10.0.0.1",
        );
    }
    parsed
}

/// Six pairs of hex digits separated by `:`. Whether it is one (a multicast
/// address is one, with an error).
pub(crate) fn check_mac(r: &mut Reader, path: At<'_>, mac: &str) -> bool {
    let Some(bits) = parse_mac(mac) else {
        r.error(
            path,
            format!("`{}` is not a MAC address", quote(mac)),
            "write six hex pairs separated by colons, e.g. 52:54:00:AA:BB:CC",
        );
        return false;
    };
    // The first byte's lowest bit.
    if bits >> 40 & 1 == 1 {
        r.error(
            path,
            format!("`{}` is a multicast address", quote(mac)),
            "the first byte must be even; 52:54:00:... is the usual prefix",
        );
    }
    true
}

/// `none`, or GPU indices separated by commas (`0`, `0,1`, `0, 1`).
pub(crate) fn parse_gpus(r: &mut Reader, path: At<'_>, text: &str) -> Vec<u32> {
    if text.trim() == "none" || text.trim().is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for part in text.split(',') {
        if let Ok(n) = part.trim().parse::<u32>() {
            if !out.contains(&n) {
                out.push(n);
            }
        } else {
            r.error(
                path,
                format!("`{}` is not a GPU assignment", quote(text)),
                "write \"none\" or GPU indices separated by commas, e.g. \"0,1\"",
            );
            return Vec::new();
        }
    }
    out
}

/// A value that becomes one word of an `/etc/fstab` or `/etc/exports` line: no
/// whitespace or control characters (a newline would add a line of its own), and
/// for paths, absolute.
pub fn fstab_word(r: &mut Reader, path: At<'_>, value: &str, is_path: bool) {
    let bad_char = value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '#');
    if value.is_empty() || bad_char {
        r.error(
            path,
            format!(
                "`{}` cannot be one word of a mount or export line",
                quote(value)
            ),
            "remove the spaces, tabs, newlines and `#` from it",
        );
    } else if is_path && !value.starts_with('/') {
        r.error(
            path,
            format!("`{}` is not an absolute path", quote(value)),
            "write the full path, starting with /",
        );
    }
}

/// A value that reaches a command line (an argument, an option of `pct`/`qm`, a
/// line of a config file) must be one line of printable text: a newline or an
/// escape sequence would add a line or an option of its own, or hide part of the
/// command from the operator reading the log. Every string in `value` (nested
/// objects and arrays too) with a control character is an error at its JSON
/// path, unless that path has an error already (one per value is enough).
pub(crate) fn no_control_characters(r: &mut Reader, path: &str, value: &Value) {
    // Paths are only spelled out for the rare value that has one.
    if !has_control_character(value) {
        return;
    }
    match value {
        Value::String(s) => {
            let Some(c) = s.chars().find(|c| c.is_control()) else {
                return;
            };
            let reported = r
                .diags
                .0
                .iter()
                .any(|d| d.is_error() && d.file == r.file && d.path == path);
            if !reported {
                r.error(
                    path,
                    format!(
                        "`{}` holds {}, which cannot go into a command line",
                        quote(s),
                        control_name(c)
                    ),
                    "remove it: a value phoenix passes to a command is one line of printable text",
                );
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                no_control_characters(r, &format!("{path}[{i}]"), item);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                no_control_characters(r, &join(path, k), v);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Whether a value parsed from the JSON text `text` may hold a control character;
/// `false` is certain. JSON text cannot hold one below 0x20 unescaped, so one
/// comes from an escape (a backslash), or is U+007F or U+0080 to U+009F as
/// written (the byte 0x7F, or 0xC2 and one more). A guest's text with none of
/// those three bytes, nearly every one, is passed over with one vector search,
/// where [`has_control_character`] looked at each of its strings.
pub(crate) fn may_hold_control_character(text: &str) -> bool {
    memchr::memchr3(b'\\', 0x7f, 0xc2, text.as_bytes()).is_some()
}

/// Whether any string in `value` has a control character.
pub(crate) fn has_control_character(value: &Value) -> bool {
    match value {
        Value::String(s) => has_control(s),
        Value::Array(items) => items.iter().any(has_control_character),
        Value::Object(map) => map.values().any(has_control_character),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// `s.chars().any(char::is_control)`, a byte at a time. The control characters
/// (category Cc) are U+0000 to U+001F and U+007F to U+009F: one byte below 0x20 or
/// 0x7F, or in UTF-8 the two bytes 0xC2 0x80 to 0xC2 0x9F.
///
/// Most strings are printable ASCII (0x20 to 0x7E) from end to end, which has
/// none: that is checked first, a few vector instructions per sixteen bytes
/// (`ascii::any_byte`). The byte-by-byte search, several instructions a byte, was a
/// twentieth of reading the guests.
fn has_control(s: &str) -> bool {
    let b = s.as_bytes();
    if !crate::ascii::any_byte(b, |c| c.wrapping_sub(0x20) >= 0x5f) {
        return false;
    }
    b.iter().enumerate().any(|(i, &c)| {
        c < 0x20
            || c == 0x7f
            || (c == 0xc2 && b.get(i + 1).is_some_and(|n| (0x80..0xa0).contains(n)))
    })
}

/// `a newline`, `a tab`, `the control character U+001B`.
fn control_name(c: char) -> String {
    match c {
        '\n' => "a newline".into(),
        '\r' => "a carriage return".into(),
        '\t' => "a tab".into(),
        '\0' => "a NUL byte".into(),
        c => format!("the control character U+{:04X}", u32::from(c)),
    }
}

#[cfg(test)]
mod control_tests {
    #[test]
    fn control_characters_are_found_as_char_is_control_finds_them() {
        for c in (0u32..0x300)
            .chain([0x2028, 0xfeff, 0x1f600])
            .filter_map(char::from_u32)
        {
            // Long ones too: the first look takes sixteen bytes at a time, and
            // each place in a block, and each block, must be seen.
            let pad = |n: usize| "p".repeat(n);
            for s in [
                format!("{c}"),
                format!("ab{c}"),
                format!("{c}é"),
                format!("é{c}x"),
                format!("{}{c}", pad(15)),
                format!("{}{c}{}", pad(16), pad(3)),
                format!("{}{c}{}", pad(21), pad(17)),
                format!("{}{c}", pad(47)),
            ] {
                assert_eq!(
                    super::has_control(&s),
                    s.chars().any(char::is_control),
                    "{s:?}"
                );
                // Written as JSON the usual way (a control character below 0x20
                // escaped) and with every character escaped, the text is never
                // passed over when its value holds one.
                let value = serde_json::json!({ "a": [s.clone()] });
                let escaped = s.chars().fold(String::new(), |mut out, c| {
                    use std::fmt::Write as _;
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                    out
                });
                for text in [value.to_string(), format!(r#"{{"a":["{escaped}"]}}"#)] {
                    if super::has_control_character(&serde_json::from_str(&text).unwrap()) {
                        assert!(super::may_hold_control_character(&text), "{text:?}");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "values_tests.rs"]
mod tests;
