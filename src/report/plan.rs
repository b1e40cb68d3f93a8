//! The plan as a table for people and as one JSON object for machines.

use std::fmt::Write;

use super::json::{ItemFields, PrettyItem, PrettyObject};
use super::table::{Column, Table, Width};
use crate::defs::Definitions;
use crate::graph::NodeId;
use crate::plan::{Action, ActionKind, Plan};
use crate::step::Step;

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
        let _ = writeln!(out, "{}", replace_note(&blocked));
    }
    if pending == 0 && plan.actions.iter().all(|a| a.action == ActionKind::Fresh) {
        out.push_str("everything is up to date\n");
    }
    out
}

/// The note under a plan that replaces guests which are not templates.
fn replace_note(blocked: &[NodeId]) -> String {
    let names: Vec<String> = blocked.iter().map(ToString::to_string).collect();
    let what = if blocked.len() == 1 {
        "destroys its root disk"
    } else {
        "destroys their root disks"
    };
    format!(
        "note: replacing {} {what}; `phoenix build` refuses without --allow-replace",
        names.join(", ")
    )
}

pub fn json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).unwrap_or_default()
}

/// [`json`] written to `out`, the actions on every core ([`PrettyObject`]): the
/// same bytes. Every field `Plan` serialises is written here, in its order.
pub fn write_json<W: std::io::Write>(plan: &Plan, out: W) -> std::io::Result<W> {
    let mut o = PrettyObject::new(out);
    o.list_written("actions", &plan.actions)?;
    if !plan.foreign.is_empty() {
        o.field("foreign", &plan.foreign)?;
    }
    if !plan.linked_outside.is_empty() {
        o.field("linked_outside", &plan.linked_outside)?;
    }
    o.finish()
}

/// An action as `Action`'s `Serialize` has `serde_json` write it in a plan:
/// its fields in their order, those skipped when empty or false skipped.
impl PrettyItem for Action {
    fn write_item(&self, out: &mut String) {
        let node = |n: &NodeId, push: &mut dyn FnMut(&[&str])| n.with_name(|name| push(&[name]));
        let mut f = ItemFields::begin(out);
        self.node.with_name(|name| f.str("node", &[name]));
        f.str("action", &[self.action.as_str()]);
        f.str("key", &[&self.key]);
        f.str_list("steps", &self.steps, |step, push| match step {
            Step::Feature(name) => push(&["feature:", name]),
            other => push(&[other.name()]),
        });
        f.str_list("reasons", &self.reasons, |r, push| push(&[r]));
        if self.needs_allow_replace {
            f.yes("needs_allow_replace");
        }
        if !self.destroy_first.is_empty() {
            f.str_list("destroy_first", &self.destroy_first, node);
        }
        if self.start {
            f.yes("start");
        }
        f.end();
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::NodeId;
    use crate::plan::{Action, ActionKind, Plan};
    use crate::step::Step;

    fn action(id: u32, i: usize) -> Action {
        Action {
            node: NodeId::Ct(id),
            action: if i.is_multiple_of(2) {
                ActionKind::Create
            } else {
                ActionKind::Replace
            },
            key: format!("{i:064x}"),
            steps: [
                Step::Define,
                Step::Configure,
                Step::Feature(format!("f{i}\\\u{1}é\"")),
            ][..i % 4]
                .to_vec(),
            reasons: (0..i % 3)
                .map(|r| format!("reason {r} \"quoted\" \\ \n\r\t\u{8}\u{c}\u{1f}\u{7f}é/"))
                .collect(),
            needs_allow_replace: i % 2 == 1,
            destroy_first: (1..=id % 3).map(|k| NodeId::Ct(id + k)).collect(),
            start: i.is_multiple_of(5),
        }
    }

    /// The note on replacements speaks of one guest's disk, or of several guests'.
    #[test]
    fn the_replacement_note_agrees_with_how_many_guests() {
        assert_eq!(
            super::replace_note(&[NodeId::Ct(101)]),
            "note: replacing ct:101 destroys its root disk; `phoenix build` refuses without --allow-replace"
        );
        assert_eq!(
            super::replace_note(&[NodeId::Ct(101), NodeId::Vm(1001)]),
            "note: replacing ct:101, vm:1001 destroys their root disks; `phoenix build` refuses without --allow-replace"
        );
    }

    /// The plan's JSON is what its `Serialize` writes, with and without each of
    /// the fields written only when they hold something.
    #[test]
    fn the_plans_json_is_what_serde_json_writes_of_it() {
        for n in [0, 1, 3, 200, 1500] {
            for extras in 0..4 {
                let plan = Plan {
                    actions: (0..n)
                        .map(|i| action(1000 + u32::try_from(i).unwrap(), i))
                        .collect(),
                    foreign: if extras & 1 == 1 {
                        vec![NodeId::Ct(7), NodeId::Vm(8)]
                    } else {
                        Vec::new()
                    },
                    linked_outside: if extras & 2 == 2 {
                        vec![(NodeId::Ct(9), NodeId::Ct(900))]
                    } else {
                        Vec::new()
                    },
                    recovered: Vec::new(),
                };
                let written = super::write_json(&plan, Vec::new()).unwrap();
                assert_eq!(
                    String::from_utf8(written).unwrap(),
                    super::json(&plan),
                    "{n} actions, extras {extras}"
                );
            }
        }
    }
}
