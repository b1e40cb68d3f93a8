//! The plan as a table for people and as one JSON object for machines.

use std::fmt::Write;

use super::table::{Column, Table, Width};
use crate::defs::Definitions;
use crate::plan::{ActionKind, Plan};

pub fn text(plan: &Plan, defs: &Definitions) -> String {
    let mut out = String::new();
    let pending = plan.pending().count();
    let fresh = plan.actions.len() - pending;
    let _ = writeln!(
        out,
        "plan: {pending} to run, {fresh} fresh ({} selected)",
        plan.actions.len()
    );
    let name_of = |a: &crate::plan::Action| match a.node {
        crate::graph::NodeId::Host(s) => crate::defs::host::spec(s)
            .map_or("", |s| s.summary)
            .to_string(),
        n => n
            .guest_id()
            .and_then(|id| defs.guest(id))
            .map(|g| g.name.clone())
            .unwrap_or_default(),
    };
    let mut table = Table::new([
        Column::left("  ", Width::AtLeast(10)),
        Column::left(" ", Width::Fit),
        Column::left("  ", Width::Free),
    ]);
    for a in &plan.actions {
        table.row([
            a.action.as_str().to_string(),
            a.node.to_string(),
            name_of(a),
        ]);
        if !a.steps.is_empty() {
            table.row([
                String::new(),
                String::new(),
                format!(
                    "steps: {}",
                    a.steps
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" → ")
                ),
            ]);
        }
        for r in &a.reasons {
            table.row([String::new(), String::new(), format!("- {r}")]);
        }
    }
    out.push_str(&table.render());
    for f in &plan.foreign {
        let _ = writeln!(
            out,
            "  {:<10} {f}  exists but was not created by phoenix; left alone",
            "foreign"
        );
    }
    for (clone, template) in &plan.linked_outside {
        let _ = writeln!(
            out,
            "note: {template} is made again and its linked clone {clone} must go first, but {clone} is not among the targets; `phoenix build` refuses until it is"
        );
    }
    let blocked = plan.blocked_replacements();
    if !blocked.is_empty() {
        let names: Vec<String> = blocked.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "note: replacing {} destroys its root disk; `phoenix build` refuses without --allow-replace",
            names.join(", ")
        );
    }
    if pending == 0 && plan.actions.iter().all(|a| a.action == ActionKind::Fresh) {
        out.push_str("everything is up to date\n");
    }
    out
}

pub fn json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).unwrap_or_default()
}
