//! Reading the inventory: one `pvesh get /cluster/resources` call lists every guest
//! with its tags, which carry phoenix's stamp.

use serde_json::Value;

use crate::backend::{Inventory, Observed, Stamp};
use crate::graph::NodeId;

/// Parse `pvesh get /cluster/resources --type vm --output-format json`.
pub fn parse_inventory(json: &str) -> Result<Inventory, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("unreadable inventory: {e}"))?;
    let mut inv = Inventory::default();
    for r in v.as_array().ok_or("inventory is not a list")? {
        let Some(id) = r
            .get("vmid")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
        else {
            continue;
        };
        let node = match r.get("type").and_then(Value::as_str) {
            Some("lxc") => NodeId::Ct(id),
            Some("qemu") => NodeId::Vm(id),
            _ => continue,
        };
        let tags: Vec<&str> = r
            .get("tags")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split([';', ',', ' '])
            .collect();
        // `phx-building` wins over a `phx-built-*` beside it: a clone inherits its
        // source's stamp and is not built until its own says so.
        let stamp = if !tags.contains(&"phoenix") {
            Stamp::Foreign
        } else if tags.iter().any(|t| t.starts_with("phx-building")) {
            Stamp::Building
        } else if let Some(k) = tags.iter().find_map(|t| t.strip_prefix("phx-built-")) {
            Stamp::Built(k.to_string())
        } else {
            Stamp::Building
        };
        let running = r.get("status").and_then(Value::as_str) == Some("running");
        inv.insert(
            node,
            Observed {
                stamp,
                // A tag carries the output key only (see `crate::inventory`).
                proof: None,
                snapshots: Vec::new(),
                running,
                node: r.get("node").and_then(Value::as_str).map(str::to_string),
            },
        );
    }
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_being_built_is_not_taken_for_its_source() {
        let inv = parse_inventory(
            r#"[{"vmid":950,"type":"lxc","node":"pve","tags":"phoenix;phx-built-abc;phx-building;prod"},
                {"vmid":920,"type":"lxc","node":"pve","tags":"phoenix;phx-built-abc;prod"},
                {"vmid":100,"type":"qemu","node":"pve","tags":"prod"}]"#,
        )
        .unwrap();
        assert_eq!(
            inv.get(&NodeId::Ct(950)).map(|o| &o.stamp),
            Some(&Stamp::Building)
        );
        assert_eq!(
            inv.get(&NodeId::Ct(920)).map(|o| &o.stamp),
            Some(&Stamp::Built("abc".into()))
        );
        assert_eq!(
            inv.get(&NodeId::Vm(100)).map(|o| &o.stamp),
            Some(&Stamp::Foreign)
        );
    }
}
