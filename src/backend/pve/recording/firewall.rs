//! A guest's firewall rules in the dry run's host, kept in position order as
//! pve-firewall keeps them.

use serde_json::json;

use super::model::{Host, options};

impl Host {
    /// `pvesh get|create|set|delete` on a guest's firewall rules, as pve-firewall's
    /// `RulesBase` treats them: `create` puts the rule on top (disabled without
    /// `--enable 1`), `set --moveto N` puts it before the rule at N, `delete` splices.
    pub(super) fn firewall_rules(&mut self, verb: &str, path: &str, rest: &[String]) -> String {
        let mut parts = path.trim_end_matches('/').rsplit('/');
        let pos = parts.next().and_then(|p| p.parse::<usize>().ok());
        let id = path
            .split('/')
            .skip_while(|p| !matches!(*p, "lxc" | "qemu"))
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        let Some(g) = id.and_then(|id| self.guests.get_mut(&id)) else {
            return "[]".into();
        };
        match (verb, pos) {
            ("get", None) => {
                let list: Vec<_> = g
                    .rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let mut r = r.clone();
                        r.insert("pos".into(), json!(i));
                        serde_json::Value::Object(r)
                    })
                    .collect();
                return serde_json::Value::Array(list).to_string();
            }
            ("create", None) => {
                let mut rule: serde_json::Map<_, _> = options(rest)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect();
                let enabled = rule.get("enable").is_some_and(|v| v == "1");
                rule.insert("enable".into(), json!(u8::from(enabled)));
                g.rules.insert(0, rule);
            }
            ("delete", Some(pos)) if pos < g.rules.len() => {
                g.rules.remove(pos);
            }
            ("set", Some(pos)) if pos < g.rules.len() => {
                let to = options(rest)
                    .into_iter()
                    .find(|(k, _)| *k == "moveto")
                    .and_then(|(_, v)| v.parse::<usize>().ok());
                if let Some(to) = to {
                    let rule = g.rules[pos].clone();
                    g.rules[pos] = serde_json::Map::new();
                    g.rules.insert(to.min(g.rules.len()), rule);
                    g.rules.retain(|r| !r.is_empty());
                }
            }
            _ => {}
        }
        String::new()
    }
}
