//! Reading a guest's definition for the command builders: values as Proxmox wants
//! them (numbers and booleans as text), with the lookups every builder shares.

use serde_json::Value;

use crate::defs::Guest;

pub(super) fn s(v: &Value) -> Option<String> {
    match v {
        Value::String(x) => Some(x.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.into()),
        _ => None,
    }
}

pub(super) fn field(g: &Guest, key: &str) -> Option<String> {
    g.raw.get(key).and_then(s)
}

pub(super) fn net(g: &Guest, key: &str) -> Option<String> {
    g.raw
        .get("network_config")
        .and_then(|n| n.get(key))
        .and_then(s)
}

pub(super) fn firewall_enabled(g: &Guest) -> bool {
    g.raw
        .get("firewall")
        .and_then(|f| f.get("enabled"))
        .and_then(Value::as_bool)
        == Some(true)
}

pub(super) fn id(g: &Guest) -> String {
    g.id.to_string()
}
