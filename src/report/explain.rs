//! `phoenix explain`: every input of a node's steps that differs from the last build.

use std::fmt::Write;

use crate::graph::NodeId;
use crate::key::{NodeKeys, canon};
use crate::plan::{self, Action};
use crate::state::{NodeRecord, RecordedKey};

pub fn text(
    node: NodeId,
    name: &str,
    action: Option<&Action>,
    desired: &NodeKeys,
    rec: Option<&NodeRecord>,
) -> String {
    let mut out = String::new();
    let verdict = action.map_or("unknown", |a| a.action.as_str());
    let _ = writeln!(out, "{node} {name}: {verdict}");
    let _ = writeln!(out, "  output key {}", desired.output());
    match rec {
        None => {
            let _ = writeln!(out, "  never built: no record in the state directory");
        }
        Some(r) => {
            let _ = writeln!(
                out,
                "  {} {}",
                if r.is_recovered() {
                    "recovered from the guest's stamp:"
                } else {
                    "recorded  "
                },
                r.last_key()
                    .map_or_else(|| "(no step completed)".to_string(), RecordedKey::text)
            );
        }
    }
    for step in plan::explain(desired, rec) {
        let _ = writeln!(out, "  {:<24} {}", step.step, step.status);
        for (input, old, new) in &step.changes {
            let show = |v: &Option<String>| {
                v.as_deref()
                    .map_or_else(|| "(absent)".to_string(), canon::display)
            };
            let _ = writeln!(out, "      {input}: {} → {}", show(old), show(new));
        }
    }
    if let Some(a) = action {
        for r in &a.reasons {
            let _ = writeln!(out, "  because {r}");
        }
    }
    out
}
