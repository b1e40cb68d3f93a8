//! A guest's firewall rules brought to exactly the defined list, in the defined
//! order, every rule enabled: read what the guest has, then delete, create and move.
//!
//! How Proxmox treats the rules (pve-firewall `PVE::API2::Firewall::RulesBase`):
//! `create_rule` always `unshift`s the new rule to position 0 (its `pos` is ignored)
//! and stores it disabled unless `enable` is given; `update_rule` with `moveto`
//! takes the rule out and puts it back before the rule that was at `moveto`;
//! `delete_rule` splices one position out; nothing refuses duplicates. So "delete all,
//! then create in order" (what phoenix did) left the rules reversed, and a clone
//! kept its source's rules. Here: unwanted and disabled rules go (highest position
//! first, so positions below stay valid), missing ones are created with
//! `--enable 1`, then each position from the top gets its rule moved into place.

use serde_json::Value;

use super::super::cmd::Cmd;
use crate::defs::{FirewallRule, Guest, GuestKind};

/// What decides whether a rule on the host is a defined one: the fields phoenix
/// sets, as `pvesh get .../firewall/rules` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleKey {
    pub direction: String,
    pub action: String,
    pub source: Option<String>,
    pub dest: Option<String>,
    pub proto: Option<String>,
    pub dport: Option<String>,
    pub comment: Option<String>,
}

/// One rule the guest has now, in position order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleNow {
    /// `None` for a rule phoenix never writes (a macro, a source port, an
    /// interface, logging): it matches no defined rule.
    pub key: Option<RuleKey>,
    pub enabled: bool,
}

impl RuleKey {
    fn of(rule: &FirewallRule) -> RuleKey {
        RuleKey {
            direction: rule.direction.as_str().to_string(),
            action: rule.action.as_str().to_string(),
            source: rule.source.clone(),
            dest: rule.dest.clone(),
            proto: rule.proto.clone(),
            dport: rule.port.clone(),
            comment: rule.comment.clone(),
        }
    }
}

/// Parse `pvesh get /nodes/<n>/<kind>/<id>/firewall/rules --output-format json`,
/// ordered by `pos`.
pub fn parse_rules(json: &str) -> Result<Vec<RuleNow>, String> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| format!("unreadable firewall rules: {e}"))?;
    let list = v.as_array().ok_or("the firewall rules are not a list")?;
    let mut rules: Vec<(u64, RuleNow)> = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let text = |k: &str| {
            r.get(k)
                .and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .filter(|s| !s.is_empty())
        };
        let pos = r.get("pos").and_then(Value::as_u64).unwrap_or(i as u64);
        let enabled = r
            .get("enable")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            == Some(1);
        let foreign = ["macro", "sport", "iface", "icmp-type"]
            .iter()
            .any(|k| text(k).is_some())
            || text("log").is_some_and(|l| l != "nolog");
        let key = match (text("type"), text("action")) {
            (Some(direction), Some(action)) if !foreign => Some(RuleKey {
                direction,
                action,
                source: text("source"),
                dest: text("dest"),
                proto: text("proto"),
                dport: text("dport"),
                comment: text("comment"),
            }),
            _ => None,
        };
        rules.push((pos, RuleNow { key, enabled }));
    }
    rules.sort_by_key(|(pos, _)| *pos);
    Ok(rules.into_iter().map(|(_, r)| r).collect())
}

/// `/nodes/<node>/<lxc|qemu>/<id>/firewall`.
pub fn firewall_base(g: &Guest, node: &str) -> String {
    let kind = if g.kind == GuestKind::Ct {
        "lxc"
    } else {
        "qemu"
    };
    format!("/nodes/{node}/{kind}/{}/firewall", g.id)
}

/// The rules a guest should have, top first: its defined rules with exact
/// duplicates collapsed to the first, none when its firewall is off.
pub fn wanted_rules(g: &Guest) -> Vec<&FirewallRule> {
    let mut out: Vec<&FirewallRule> = Vec::new();
    if g.firewall.enabled {
        for r in &g.firewall.rules {
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out
}

fn create(base: &str, rule: &FirewallRule) -> Cmd {
    let mut c = Cmd::new(["pvesh", "create", &format!("{base}/rules")])
        .opt("type", rule.direction.as_str())
        .opt("action", rule.action.as_str())
        // Without it Proxmox stores the rule disabled (`create_rule`).
        .opt("enable", "1");
    for (name, value) in [
        ("source", &rule.source),
        ("dest", &rule.dest),
        ("proto", &rule.proto),
        ("dport", &rule.port),
        ("comment", &rule.comment),
    ] {
        c = c.opt_if(name, value.clone());
    }
    c
}

/// The commands that turn the guest's `current` rules into exactly its defined
/// ones, after switching its firewall on or off. Run twice, the second run
/// emits only the options line.
pub fn firewall_reconcile(g: &Guest, node: &str, current: &[RuleNow]) -> Vec<Cmd> {
    let base = firewall_base(g, node);
    // Policies only where the definition names them: otherwise Proxmox's defaults
    // (inbound DROP, outbound ACCEPT) stay, and `validate` warned about inbound.
    let fw = &g.firewall;
    let mut cmds = vec![
        Cmd::new(["pvesh", "set", &format!("{base}/options")])
            .flag("enable", fw.enabled)
            .opt_if("policy_in", fw.policy_in.map(|p| p.as_str().to_string()))
            .opt_if("policy_out", fw.policy_out.map(|p| p.as_str().to_string())),
    ];
    let wanted = wanted_rules(g);
    let keys: Vec<RuleKey> = wanted.iter().map(|r| RuleKey::of(r)).collect();
    // Keep the first enabled copy of each defined rule; delete the rest, from the
    // bottom up.
    let mut list: Vec<Option<RuleKey>> = Vec::new();
    let mut keep = vec![false; current.len()];
    for (pos, r) in current.iter().enumerate() {
        if let Some(k) = &r.key
            && r.enabled
            && keys.contains(k)
            && !list.contains(&Some(k.clone()))
        {
            keep[pos] = true;
            list.push(Some(k.clone()));
        }
    }
    for pos in (0..current.len()).rev().filter(|p| !keep[*p]) {
        cmds.push(Cmd::new([
            "pvesh",
            "delete",
            &format!("{base}/rules/{pos}"),
        ]));
    }
    // Missing rules: each lands at the top.
    for (rule, key) in wanted.iter().zip(&keys) {
        if !list.contains(&Some(key.clone())) {
            cmds.push(create(&base, rule));
            list.insert(0, Some(key.clone()));
        }
    }
    // Every rule is there once; place them from the top. Positions above `i` are
    // final, so the rule for `i` sits at or below it.
    for (i, key) in keys.iter().enumerate() {
        let Some(p) = list.iter().position(|k| k.as_ref() == Some(key)) else {
            continue;
        };
        if p != i {
            cmds.push(
                Cmd::new(["pvesh", "set", &format!("{base}/rules/{p}")])
                    .opt("moveto", i.to_string()),
            );
            let moved = list.remove(p);
            list.insert(i, moved);
        }
    }
    cmds
}

/// The firewall against `existing` rules of unknown content (none of which is
/// taken as a defined one): what a dry run shows for a fresh guest (`0`).
pub fn firewall(g: &Guest, node: &str, existing: usize) -> Vec<Cmd> {
    let unknown = vec![
        RuleNow {
            key: None,
            enabled: true,
        };
        existing
    ];
    firewall_reconcile(g, node, &unknown)
}

#[cfg(test)]
#[path = "firewall_tests.rs"]
mod tests;
