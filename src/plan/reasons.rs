//! Human reasons: why a step is stale, from the difference of two manifests.

use std::collections::HashMap;

use crate::graph::NodeId;
use crate::key::{Manifest, canon};

/// Human reasons for the difference between two manifests.
pub fn diff(
    old: &Manifest,
    new: &Manifest,
    upstream: &HashMap<NodeId, Vec<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, new_v) in new {
        match old.get(name) {
            Some(old_v) if old_v == new_v => {}
            Some(old_v) => out.push(changed(name, old_v, new_v, upstream)),
            None => out.push(format!(
                "{} added ({})",
                pretty_name(name),
                canon::display(new_v)
            )),
        }
    }
    for name in old.keys().filter(|k| !new.contains_key(k)) {
        out.push(format!("{} removed", pretty_name(name)));
    }
    out
}

fn pretty_name(name: &str) -> &str {
    name.strip_prefix("script ")
        .or_else(|| name.strip_prefix("section "))
        .or_else(|| name.strip_prefix("global "))
        .unwrap_or(name)
}

fn changed(name: &str, old: &str, new: &str, upstream: &HashMap<NodeId, Vec<String>>) -> String {
    if let Some(path) = name.strip_prefix("script ") {
        return format!("{path} changed");
    }
    if let Some(source) = name.strip_prefix("clone source ") {
        let why = upstream
            .iter()
            .find(|(id, _)| id.to_string() == source)
            .and_then(|(_, r)| r.first())
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        return format!("clone source {source} changed{why}");
    }
    if let Some(h) = name.strip_prefix("health ") {
        return format!("health check `{h}` changed");
    }
    let (o, n) = (canon::display(old), canon::display(new));
    if o.ends_with("...") || n.ends_with("...") {
        format!("{} changed", pretty_name(name))
    } else {
        format!("{} {o} → {n}", pretty_name(name))
    }
}
