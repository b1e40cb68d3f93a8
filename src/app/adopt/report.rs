//! `phoenix adopt`'s report: per node, its verdict, then a table of every setting
//! (matches or differs, host and definition values, secrets redacted) and of what
//! cannot be observed, its notes and the steps it records.

use super::{Judged, Verdict};
use crate::defs::Definitions;
use crate::live::Setting;
use crate::report::table::{Column, Table, Width};

/// One node's part of the report.
pub(super) fn render(j: &Judged, defs: &Definitions) -> String {
    let name = j
        .node
        .guest_id()
        .and_then(|id| defs.guest(id))
        .map(|g| format!(" ({})", g.name))
        .unwrap_or_default();
    let head = match &j.verdict {
        Verdict::Adopt => format!("{}{name}: adopt", j.node),
        Verdict::Refused(why) => format!("{}{name}: refused: {why}", j.node),
        Verdict::Skipped(why) => return format!("{}{name}: skipped: {why}", j.node),
    };
    let mut out = head;
    if let Some(live) = &j.observed {
        let mut table = Table::new([
            Column::left("  ", Width::Fit),
            Column::left("  ", Width::Fit),
            Column::left("  ", Width::Fit),
            Column::left("  ", Width::Free),
        ]);
        table.row(["setting", "status", "host", "definition"]);
        for s in live.shape.iter().chain(&live.settings) {
            let what = if s.field == s.name {
                s.field.clone()
            } else {
                format!("{} ({})", s.field, s.name)
            };
            let (host, def) = shown(s);
            let status = if s.matches() { "matches" } else { "differs" };
            table.row([what, status.into(), host, def]);
        }
        for line in table.render().lines() {
            out.push('\n');
            out.push_str(line.trim_end());
        }
    }
    // What cannot be observed, grouped by what is recorded of it.
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (what, recorded) in &j.unobservable {
        match groups.iter_mut().find(|(r, _)| r == recorded) {
            Some((_, list)) => list.push(what),
            None => groups.push((recorded, vec![what])),
        }
    }
    for (recorded, list) in groups {
        out.push_str(&format!("\n  {}: {recorded}", list.join(", ")));
    }
    for note in &j.notes {
        out.push_str(&format!("\n  note: {note}"));
    }
    if !j.records.is_empty() {
        out.push_str(&format!("\n  records: {}", j.records.join(", ")));
    }
    out
}

/// A setting's two values for the table (a secret's are fingerprints already:
/// [`crate::live::Observation::redacted`]); the definition's only where it differs.
fn shown(s: &Setting) -> (String, String) {
    let def = if s.matches() {
        String::new()
    } else {
        s.want_text().to_string()
    };
    (s.live_text().to_string(), def)
}
