//! Human reasons: why a step is stale, from the difference of two manifests.

use crate::graph::{NodeId, NodeMap};
use crate::key::{Manifest, canon};

/// The clone sources planned so far, for a clone's reason: "clone source ct:900
/// changed (why ct:900 did)" quotes the first reason of the source's action.
#[derive(Clone, Copy, Default)]
pub struct Upstream<'a> {
    /// Each planned clone source's first reason.
    first: Option<&'a NodeMap<String>>,
}

impl<'a> Upstream<'a> {
    /// No node planned: a clone source's change is quoted without its reason.
    pub fn none() -> Upstream<'static> {
        Upstream::default()
    }

    pub(super) fn new(first: &'a NodeMap<String>) -> Upstream<'a> {
        Upstream { first: Some(first) }
    }

    fn first_reason(self, node: NodeId) -> Option<&'a str> {
        self.first?.get(&node).map(String::as_str)
    }
}

/// Human reasons for the difference between two manifests.
pub fn diff(old: &Manifest, new: &Manifest, upstream: Upstream<'_>) -> Vec<String> {
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

fn changed(name: &str, old: &str, new: &str, upstream: Upstream<'_>) -> String {
    if let Some(path) = name.strip_prefix("script ") {
        return format!("{path} changed");
    }
    if let Some(source) = name.strip_prefix("clone source ") {
        // Looked up by node: every clone of a changed template says this, and a
        // walk through the planned nodes made a plan quadratic in the guests.
        let why = NodeId::parse_guest(source)
            .and_then(|s| upstream.first_reason(s))
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
