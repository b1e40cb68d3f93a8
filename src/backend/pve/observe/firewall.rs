//! A guest's firewall as observed: the options and rules the reconcile
//! (`commands::firewall_reconcile`) would leave, beside the ones it has.

use serde_json::Value;

use super::options;
use crate::backend::pve::commands;
use crate::defs::{FirewallRule, Guest};
use crate::live::Setting;

/// The firewall as the reconcile leaves it: its options (`enable`, and the
/// policies where the definition names them; absent ones are Proxmox's defaults,
/// off, inbound DROP, outbound ACCEPT: pve-firewall `PVE::Firewall`, a guest's
/// options), then one setting per rule position (`rule 1` is position 0), each
/// rule written as a pve-firewall `.fw` line (`IN ACCEPT -source 10.0.3.0/24 -p
/// tcp -dport 9000 # comment`; a disabled one starts with `|`).
pub(super) fn firewall_settings(
    g: &Guest,
    options_json: &str,
    rules_json: &str,
) -> Result<Vec<Setting>, String> {
    let now: Value = serde_json::from_str(options_json)
        .map_err(|e| format!("unreadable firewall options: {e}"))?;
    let mut out = Vec::new();
    let reconcile = commands::firewall_reconcile(g, "node", &[]);
    for (key, want) in reconcile.first().into_iter().flat_map(options) {
        let default = match key {
            "policy_in" => "DROP",
            "policy_out" => "ACCEPT",
            _ => "0",
        };
        let live = text(now.get(key)).unwrap_or_else(|| default.to_string());
        out.push(Setting::new(
            "firewall",
            key,
            Some(live),
            Some(want.to_string()),
        ));
    }
    let live_rules = live_rule_lines(rules_json)?;
    let want_rules: Vec<String> = commands::wanted_rules(g)
        .into_iter()
        .map(defined_rule_line)
        .collect();
    for i in 0..live_rules.len().max(want_rules.len()) {
        out.push(Setting::new(
            "firewall",
            &format!("rule {}", i + 1),
            live_rules.get(i).cloned(),
            want_rules.get(i).cloned(),
        ));
    }
    Ok(out)
}

/// A JSON value as text (`1`, `"DROP"`); an empty string is none.
pub(super) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(u8::from(*b).to_string()),
        _ => None,
    }
}

/// A rule as a pve-firewall `.fw` line, from its fields by API name.
fn rule_line(get: &dyn Fn(&str) -> Option<String>) -> String {
    let mut line = String::new();
    if get("enable").as_deref() != Some("1") {
        line.push('|');
    }
    line.push_str(&get("type").unwrap_or_default().to_ascii_uppercase());
    let action = get("action").unwrap_or_default();
    match get("macro") {
        Some(m) => line.push_str(&format!(" {m}({action})")),
        None => line.push_str(&format!(" {action}")),
    }
    for (k, flag) in [
        ("iface", "-i"),
        ("source", "-source"),
        ("dest", "-dest"),
        ("proto", "-p"),
        ("dport", "-dport"),
        ("sport", "-sport"),
        ("icmp-type", "-icmp-type"),
        ("log", "-log"),
    ] {
        match get(k) {
            Some(v) if !(k == "log" && v == "nolog") => line.push_str(&format!(" {flag} {v}")),
            _ => {}
        }
    }
    if let Some(c) = get("comment") {
        line.push_str(&format!(" # {c}"));
    }
    line
}

/// The guest's rules, in position order, as `.fw` lines.
fn live_rule_lines(json: &str) -> Result<Vec<String>, String> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| format!("unreadable firewall rules: {e}"))?;
    let list = v.as_array().ok_or("the firewall rules are not a list")?;
    let mut rules: Vec<(u64, String)> = list
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let pos = r.get("pos").and_then(Value::as_u64).unwrap_or(i as u64);
            (pos, rule_line(&|k| text(r.get(k))))
        })
        .collect();
    rules.sort_by_key(|(pos, _)| *pos);
    Ok(rules.into_iter().map(|(_, l)| l).collect())
}

/// A defined rule as the reconcile creates it (enabled), as a `.fw` line.
fn defined_rule_line(r: &FirewallRule) -> String {
    rule_line(&|k| match k {
        "type" => Some(r.direction.as_str().to_string()),
        "action" => Some(r.action.as_str().to_string()),
        "enable" => Some("1".to_string()),
        "source" => r.source.clone(),
        "dest" => r.dest.clone(),
        "proto" => r.proto.clone(),
        "dport" => r.port.clone(),
        "comment" => r.comment.clone(),
        _ => None,
    })
}
