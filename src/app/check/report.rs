//! What `phoenix check` prints: the table (or one JSON line per check and a
//! summary line) on stdout, and on stderr one line per check that failed or
//! timed out, nothing when all passed (so cron mails only about failures).

use std::time::Duration;

use serde_json::json;

use super::{Row, Verdict};
use crate::app::output::{eprint, print};
use crate::graph::NodeId;
use crate::report::table::{Column, Table, Width};

/// The table and its summary line.
pub(super) fn text(rows: &[Row], without: &[NodeId], timeout: Duration) {
    let mut out = String::new();
    if !rows.is_empty() {
        let mut table = Table::new([
            Column::left("", Width::Fit),
            Column::left("  ", Width::Fit),
            Column::left("  ", Width::Fit),
            Column::right("  ", Width::AtLeast(4)),
            Column::left("  ", Width::Free),
        ]);
        table.row(["CHECK", "GUEST", "RESULT", "TIME", "OUTPUT"]);
        for r in rows {
            table.row([
                r.check.name.clone(),
                guest(r),
                r.verdict.as_str().to_string(),
                r.elapsed.map_or_else(|| "-".into(), seconds),
                r.output.clone(),
            ]);
        }
        out.push_str(&table.render());
    }
    out.push_str(&summary_line(rows, without, timeout));
    print(&out);
}

/// One line per check, then `{"event": "summary", ...}`.
pub(super) fn json(rows: &[Row], without: &[NodeId]) {
    let mut out = String::new();
    for r in rows {
        let line = json!({
            "event": "check",
            "check": r.check.name,
            "guest": r.node().to_string(),
            "name": r.guest.name,
            "result": r.verdict.as_str(),
            "elapsed_ms": r.elapsed.map(|d| d.as_millis()),
            "output": r.output,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    let summary = json!({
        "event": "summary",
        "checks": rows.len(),
        "passed": count(Verdict::Pass),
        "failed": count(Verdict::Fail),
        "timed_out": count(Verdict::Timeout),
        "skipped": count(Verdict::Skipped),
        "would_run": count(Verdict::WouldRun),
        "without_checks": without.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "ok": !rows.iter().any(|r| r.verdict.failed()),
    });
    out.push_str(&summary.to_string());
    print(&out);
}

/// On stderr, each check that failed or timed out, with its last line.
pub(super) fn failures(rows: &[Row], timeout: Duration) {
    let mut out = String::new();
    for r in rows.iter().filter(|r| r.verdict.failed()) {
        let what = if r.verdict == Verdict::Timeout {
            format!("timed out after {}s", timeout.as_secs())
        } else {
            "failed".to_string()
        };
        let detail = if r.output.is_empty() {
            String::new()
        } else {
            format!(": {}", r.output)
        };
        out.push_str(&format!(
            "check `{}` on {} {what}{detail}\n",
            r.check.name,
            guest(r)
        ));
    }
    eprint(&out);
}

/// `4 checks: 2 passed, 1 failed, 1 skipped`, and the named guests without checks.
fn summary_line(rows: &[Row], without: &[NodeId], timeout: Duration) -> String {
    let mut parts = Vec::new();
    for (v, word) in [
        (Verdict::Pass, "passed".to_string()),
        (Verdict::Fail, "failed".to_string()),
        (
            Verdict::Timeout,
            format!("timed out ({}s)", timeout.as_secs()),
        ),
        (Verdict::Skipped, "skipped".to_string()),
        (Verdict::WouldRun, "would run".to_string()),
    ] {
        let n = rows.iter().filter(|r| r.verdict == v).count();
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    let mut line = match rows.len() {
        0 => "no health checks to run".to_string(),
        1 => format!("1 check: {}", parts.join(", ")),
        n => format!("{n} checks: {}", parts.join(", ")),
    };
    if !without.is_empty() {
        let names: Vec<String> = without.iter().map(ToString::to_string).collect();
        line.push_str(&format!("; no health checks defined: {}", names.join(", ")));
    }
    line
}

/// `ct:950 (vllm)`.
fn guest(r: &Row) -> String {
    if r.guest.name.is_empty() {
        r.node().to_string()
    } else {
        format!("{} ({})", r.node(), r.guest.name)
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
