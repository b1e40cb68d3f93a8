//! `phoenix status`: a table of every node with the action a build would take, its
//! key and when it was last built. Uses the backend's inventory where there is one,
//! the recorded state otherwise. A node whose record was rebuilt from its guest's
//! stamp (the state directory had lost or garbled it) says "recovered from guest
//! stamps" where the time of its last build would be, since stamps carry no time.
//!
//! With `--live` it reads each managed guest's live config and adds a table of
//! what changed outside phoenix (see `plan::drift`).
//!
//! Also here: [`report_state`], what every command that assessed the state does with
//! what it found before going on.

use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use super::output::{eprint, load, print};
use super::settings::backend;
use super::{AppError, CmdResult};
use crate::cli::Cli;
use crate::defs::Severity;
use crate::graph::NodeId;
use crate::pipeline::{self, Assessed, Refreshed};
use crate::plan::drift::Fix;
use crate::report::table::{Column, Table, Width};
use crate::state::StateDir;

/// What a status table says of a record rebuilt from its guest's stamp.
pub const RECOVERED: &str = "recovered from guest stamps";

/// Warn about every state record and journal line that could not be used, say
/// which records were rebuilt from guests' stamps, and, for a build (`keep`,
/// with the build lock held), keep those records in the state directory.
pub(crate) fn report_state(
    state: &StateDir,
    assessed: &Assessed,
    keep: bool,
) -> Result<(), AppError> {
    for (path, why) in &assessed.recorded.unreadable {
        eprint(&format!(
            "warning: ignoring unreadable state record {}: {why}\n",
            path.display()
        ));
    }
    let recovered: Vec<String> = assessed
        .plan
        .recovered
        .iter()
        .map(|r| r.node.to_string())
        .collect();
    if !recovered.is_empty() {
        let more = recovered.len().saturating_sub(8);
        eprint(&format!(
            "note: {RECOVERED}: {}{} (the state directory had no usable record of them, or one their stamps contradict)\n",
            recovered[..recovered.len() - more].join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
        ));
    }
    if keep {
        pipeline::keep_recovered(state, assessed)?;
    }
    Ok(())
}

pub(crate) fn status(cli: &Cli, targets: &[String], live: bool) -> CmdResult {
    let loaded = load(cli, Severity::Error)?;
    let state = StateDir::new(&cli.global.cache);
    let backend = match backend(cli) {
        Ok(b) => Some(b),
        Err(e) if !live => {
            eprint(&format!("note: {e}; showing the recorded state only\n"));
            None
        }
        Err(e) => return Err(e.into()),
    };
    let mut assessed = pipeline::assess_with(&loaded, targets, &state, backend.as_deref())?;
    report_state(&state, &assessed, false)?;
    let found = match backend.as_deref() {
        Some(b) if live => Some(pipeline::refresh(&loaded, &mut assessed, b, false)),
        _ => None,
    };
    let mut table = Table::new([
        Column::left("", Width::Fit),
        Column::left("  ", Width::AtLeast(18)),
        Column::left(" ", Width::AtLeast(10)),
        Column::left("  ", Width::AtLeast(12)),
        Column::left("  ", Width::Free),
    ]);
    table.row(["node", "name", "action", "key", "last built"]);
    for a in &assessed.plan.actions {
        let name = match a.node {
            NodeId::Host(s) => s.to_string(),
            n => n
                .guest_id()
                .and_then(|id| loaded.defs.guest(id))
                .map(|g| g.name.clone())
                .unwrap_or_default(),
        };
        let built = assessed
            .recorded
            .records
            .get(&a.node.to_string())
            .filter(|r| !r.steps.is_empty())
            .map_or_else(
                || "never".to_string(),
                |r| {
                    if r.is_recovered() {
                        RECOVERED.to_string()
                    } else {
                        format_time(r.updated_at)
                    }
                },
            );
        table.row([
            a.node.to_string(),
            name,
            a.action.as_str().to_string(),
            a.key[..12].to_string(),
            built,
        ]);
    }
    for f in &assessed.plan.foreign {
        table.row([
            f.to_string(),
            String::new(),
            "foreign".into(),
            "-".into(),
            "exists, not created by phoenix".into(),
        ]);
    }
    print(&table.render());
    if let Some(found) = found {
        print(&drift_table(&assessed, &found));
        report_unreadable(&found);
    }
    Ok(ExitCode::SUCCESS)
}

/// `status --live`'s second table: every managed guest that changed outside
/// phoenix, one line per change, with what phoenix left and what the host has.
fn drift_table(assessed: &Assessed, found: &Refreshed) -> String {
    let missing: Vec<NodeId> = assessed
        .plan
        .actions
        .iter()
        .filter(|a| {
            a.reasons
                .iter()
                .any(|r| r.starts_with(crate::plan::MISSING))
        })
        .map(|a| a.node)
        .collect();
    if found.drifts.is_empty() && missing.is_empty() {
        return "\nno drift: every managed guest is as phoenix left it".into();
    }
    let mut table = Table::new([
        Column::left("", Width::Fit),
        Column::left("  ", Width::AtLeast(16)),
        Column::left("  ", Width::AtLeast(10)),
        Column::left("  ", Width::AtLeast(10)),
        Column::left("  ", Width::Free),
    ]);
    table.row(["node", "changed", "recorded", "live", "a build (--refresh)"]);
    for d in &found.drifts {
        for item in &d.items {
            let fix = match item.fix {
                Fix::Configure => "updates it",
                Fix::Start => "starts it",
                Fix::Snapshot => "takes it again",
                Fix::Migrate => "migrates it",
            };
            table.row([
                d.node.to_string(),
                item.what.clone(),
                item.recorded.clone(),
                item.live.clone(),
                fix.to_string(),
            ]);
        }
    }
    for node in missing {
        table.row([
            node.to_string(),
            "the guest".into(),
            "built".into(),
            "missing".into(),
            "creates it (deleted outside phoenix)".into(),
        ]);
    }
    format!("\ndrift (changed outside phoenix):\n{}", table.render())
}

/// Warn about guests whose live config could not be read.
pub(crate) fn report_unreadable(found: &Refreshed) {
    for (node, why) in &found.unreadable {
        eprint(&format!(
            "warning: {node}: could not read its live config, so its drift is unknown: {why}\n"
        ));
    }
}

/// `2026-11-27 07:15:02 UTC` from seconds since the epoch.
pub fn format_time(secs: u64) -> String {
    let stamp = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs));
    // RFC 3339 (`2026-11-27T07:15:02Z`), with a space and the zone spelled out.
    stamp
        .to_string()
        .replacen('T', " ", 1)
        .replacen('Z', " UTC", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(1_795_764_902), "2026-11-27 07:35:02 UTC");
        // A leap day.
        assert_eq!(format_time(1_709_210_096), "2024-02-29 12:34:56 UTC");
    }
}
