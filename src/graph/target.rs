//! Turning command-line targets (`all`, `950`, `ct:950`, `host:zfs`) into nodes.

use super::{Graph, NodeId};
use crate::defs::diag::did_you_mean;
use crate::defs::{Definitions, host};

#[derive(Debug, thiserror::Error)]
#[error("unknown target `{target}`{}", hint.as_ref().map(|h| format!(": did you mean `{h}`?")).unwrap_or_default())]
pub struct UnknownTarget {
    pub target: String,
    pub hint: Option<String>,
}

/// Resolve targets; no targets means `all`.
pub fn resolve(
    defs: &Definitions,
    graph: &Graph,
    targets: &[String],
) -> Result<Vec<NodeId>, UnknownTarget> {
    if targets.is_empty() || targets.iter().any(|t| t == "all") {
        let mut all: Vec<NodeId> = graph.nodes().collect();
        all.sort();
        return Ok(all);
    }
    let mut out = Vec::new();
    for t in targets {
        let node = parse(defs, t).filter(|n| graph.contains(*n));
        if let Some(n) = node {
            out.push(n);
        } else {
            let names: Vec<String> = graph
                .nodes()
                .map(|n| n.to_string())
                .chain(defs.guests.keys().map(u32::to_string))
                .collect();
            let hint = did_you_mean(t, names.iter().map(String::as_str)).map(str::to_string);
            return Err(UnknownTarget {
                target: t.clone(),
                hint,
            });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// One target, without checking that the node exists in the graph.
pub fn parse(defs: &Definitions, text: &str) -> Option<NodeId> {
    let text = text.trim();
    if let Ok(id) = text.parse::<u32>() {
        return defs.guest(id).map(|g| NodeId::guest(g.kind, g.id));
    }
    let (kind, rest) = text.split_once(':')?;
    match kind {
        "ct" => rest.parse().ok().map(NodeId::Ct),
        "vm" => rest.parse().ok().map(NodeId::Vm),
        "host" => host::spec(rest).map(|s| NodeId::Host(s.name)),
        _ => None,
    }
}
