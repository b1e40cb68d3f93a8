//! `phoenix check`: the health checks of the named guests, run on demand against
//! the running guests, for operators, cron and monitoring.
//!
//! Only the named guests are checked (`all`: every guest), never what they need.
//! Each check of a guest with phoenix's stamp that runs goes through
//! [`exec::health::run`], as the build's `app` step runs it; a few at a time
//! (`-j`), each with its own deadline (`--timeout`). What is not run gets a row
//! that says why: a template never runs (skipped), a guest another tool built is
//! left alone (skipped), a guest that is stopped or missing fails its checks
//! (nothing is started or built). A check that failed before it started in the
//! guest is run again, as the build runs it again ([`health::Again`]), with the
//! build's retries (`--retry-backoff-ms`). Each check writes to a scratch log while it
//! runs, and the scratch logs are appended to the guests' logs in table order
//! once all are done, so two checks of one guest running at once do not mix
//! their lines there.
//!
//! Rooms: this file (what to run, running it) and `report` (the table, the JSON
//! lines, the failures on stderr).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::output::load;
use super::settings::backend;
use super::{AppError, CmdResult, error::verdict};
use crate::backend::{Backend, BackendError, GuestCtx, Inventory, Log, Stamp};
use crate::cli::{BackendKind, CheckArgs, Cli, Output};
use crate::defs::{Definitions, Guest, HealthCheck, Severity};
use crate::exec::{self, health};
use crate::graph::{NodeId, target};
use crate::state::{StateDir, now};

mod report;

/// What became of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Pass,
    Fail,
    Timeout,
    Skipped,
    /// `--dry-run`: what would run.
    WouldRun,
}

impl Verdict {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Timeout => "timeout",
            Verdict::Skipped => "skipped",
            Verdict::WouldRun => "would run",
        }
    }

    pub(super) fn failed(self) -> bool {
        matches!(self, Verdict::Fail | Verdict::Timeout)
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub(super) struct Row<'a> {
    pub guest: &'a Guest,
    pub check: &'a HealthCheck,
    pub verdict: Verdict,
    pub elapsed: Option<Duration>,
    /// The last line the check printed, or why it did not run.
    pub output: String,
}

impl Row<'_> {
    pub(super) fn node(&self) -> NodeId {
        NodeId::guest(self.guest.kind, self.guest.id)
    }
}

pub(crate) fn check(cli: &Cli, args: &CheckArgs) -> CmdResult {
    let loaded = load(cli, Severity::Warning)?;
    let defs = &loaded.defs;
    let nodes = target::resolve(defs, &loaded.graph, &args.targets)?;
    let named_all = args.targets.is_empty() || args.targets.iter().any(|t| t == "all");
    let guests: Vec<&Guest> = nodes
        .iter()
        .filter_map(|n| n.guest_id().and_then(|id| defs.guest(id)))
        .collect();
    // Guests named on their own that have no check: said in the summary (with
    // `all`, most guests have none, and that is no news).
    let without: Vec<NodeId> = if named_all {
        Vec::new()
    } else {
        guests
            .iter()
            .filter(|g| g.health_checks.is_empty())
            .map(|g| NodeId::guest(g.kind, g.id))
            .collect()
    };
    let dry_run = args.dry_run || cli.global.backend == Some(BackendKind::DryRun);
    let timeout = Duration::from_secs(args.timeout);
    let rows = if dry_run {
        would_run(defs, &guests)
    } else {
        let backend = backend(cli)?;
        // A host another build drives is not touched: said once, not per check.
        backend.claim()?;
        let inventory = backend.inventory()?;
        let mut rows = triage(backend.as_ref(), &inventory, &guests);
        let state = StateDir::new(&cli.global.cache);
        run(defs, backend.as_ref(), &state, &mut rows, args, timeout)?;
        rows
    };
    let failed = rows.iter().any(|r| r.verdict.failed());
    match args.output {
        Output::Text => report::text(&rows, &without, timeout),
        Output::Json => report::json(&rows, &without),
    }
    report::failures(&rows, timeout);
    Ok(verdict(failed))
}

/// Every check of `guests`, as what would run.
fn would_run<'a>(defs: &Definitions, guests: &[&'a Guest]) -> Vec<Row<'a>> {
    guests
        .iter()
        .flat_map(|g| {
            g.health_checks.iter().map(move |h| {
                let mut command = vec![defs.layout.health(&h.script)];
                command.extend(h.args.iter().cloned());
                Row {
                    guest: g,
                    check: h,
                    verdict: if g.template.is_template() {
                        Verdict::Skipped
                    } else {
                        Verdict::WouldRun
                    },
                    elapsed: None,
                    output: health::redact(&command.join(" ")),
                }
            })
        })
        .collect()
}

/// A row for every check: the ones to run (`WouldRun`, for now), and the ones
/// that will not run with the reason.
fn triage<'a>(backend: &dyn Backend, inventory: &Inventory, guests: &[&'a Guest]) -> Vec<Row<'a>> {
    let mut rows = Vec::new();
    for g in guests {
        let node = NodeId::guest(g.kind, g.id);
        let observed = inventory.get(&node);
        let (verdict, why) = if g.template.is_template() {
            (Verdict::Skipped, "a template: it never runs".to_string())
        } else if !backend.supports(g.kind) {
            (
                Verdict::Skipped,
                format!("the {} backend has no {}s", backend.name(), g.kind.prefix()),
            )
        } else {
            match observed {
                None => (
                    Verdict::Fail,
                    "missing: not on the host (build it first)".into(),
                ),
                Some(o) if o.stamp == Stamp::Foreign => (
                    Verdict::Skipped,
                    "not built by phoenix: left alone (adopt it to check it)".into(),
                ),
                Some(o) if !o.running => (Verdict::Fail, "not running".into()),
                Some(_) => (Verdict::WouldRun, String::new()),
            }
        };
        for h in &g.health_checks {
            rows.push(Row {
                guest: g,
                check: h,
                verdict,
                elapsed: None,
                output: why.clone(),
            });
        }
    }
    rows
}

/// Run the rows still to run (`WouldRun`), `-j` at a time, and fill them in;
/// then append each check's output to its guest's log.
fn run(
    defs: &Definitions,
    backend: &dyn Backend,
    state: &StateDir,
    rows: &mut [Row],
    args: &CheckArgs,
    timeout: Duration,
) -> Result<(), AppError> {
    let todo: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].verdict == Verdict::WouldRun)
        .collect();
    let scratch = tempfile::Builder::new()
        .prefix("phoenix-check-")
        .tempdir()
        .map_err(|e| {
            AppError::Backend(BackendError::Unavailable(format!(
                "cannot make a scratch directory for the checks' output: {e}"
            )))
        })?;
    let progress = progress(args, todo.len());
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, health::Ran)>> = Mutex::new(Vec::new());
    let shared: &[Row] = rows;
    // A check that did not start is run again, as a build's would be.
    let (retries, backoff) = (
        exec::Options::default().retries,
        Duration::from_millis(args.retry.retry_backoff_ms),
    );
    std::thread::scope(|s| {
        for _ in 0..args.jobs.clamp(1, todo.len().max(1)) {
            s.spawn(|| {
                let again = health::Again {
                    retry: exec::retry::Retry {
                        retries,
                        backoff,
                        // Ctrl-C ends `phoenix check` at once (no build is running).
                        interrupt: None,
                    },
                    on_retry: &|_, _| {},
                };
                while let Some(&i) = todo.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let row = &shared[i];
                    let ctx = GuestCtx {
                        node: row.node(),
                        guest: row.guest,
                        defs,
                        source: None,
                        timeout,
                    };
                    let mut log = Log::open(&scratch.path().join(format!("{i}.log")));
                    let ran = health::run(defs, backend, &ctx, row.check, &again, &mut log);
                    if let Some(bar) = &progress {
                        bar.set_message(format!("{} on {}", row.check.name, row.node()));
                        bar.inc(1);
                    }
                    done.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((i, ran));
                }
            });
        }
    });
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    for (i, ran) in done
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        let row = &mut rows[i];
        row.elapsed = Some(ran.elapsed);
        row.verdict = match &ran.result {
            Ok(()) => Verdict::Pass,
            Err(_) if ran.timed_out => Verdict::Timeout,
            Err(_) => Verdict::Fail,
        };
        row.output = match ran.result {
            _ if !ran.last_line.is_empty() => ran.last_line,
            Ok(()) => String::new(),
            Err(_) if ran.timed_out => {
                format!("no output before the {}s timeout", timeout.as_secs())
            }
            Err(e) => health::redact(e.message.lines().last().unwrap_or_default().trim()),
        };
    }
    write_logs(state, backend, rows, scratch.path());
    Ok(())
}

/// Append each guest's checks to its log (`phoenix logs`): what ran, whole, and
/// why the others did not. Guests another tool built get nothing.
fn write_logs(state: &StateDir, backend: &dyn Backend, rows: &[Row], scratch: &std::path::Path) {
    let mut i = 0;
    while i < rows.len() {
        let node = rows[i].node();
        let end = rows[i..]
            .iter()
            .position(|r| r.node() != node)
            .map_or(rows.len(), |n| i + n);
        let mine = &rows[i..end];
        let skipped = mine.iter().all(|r| r.verdict == Verdict::Skipped);
        if !skipped {
            let mut log = Log::open(&exec::log_path(state, node));
            log.note(&format!(
                "== check {node} at {} ({} backend)",
                now(),
                backend.name()
            ));
            for (k, row) in mine.iter().enumerate() {
                if row.elapsed.is_some() {
                    let bytes = std::fs::read(scratch.join(format!("{}.log", i + k)));
                    log.raw(&bytes.unwrap_or_default());
                } else {
                    log.note(&format!("health check `{}`", row.check.name));
                }
                let time = row
                    .elapsed
                    .map(|d| format!(" after {:.1}s", d.as_secs_f64()))
                    .unwrap_or_default();
                let why = if row.elapsed.is_none() {
                    format!(": {}", row.output)
                } else {
                    String::new()
                };
                log.note(&format!(
                    "check `{}`: {}{time}{why}",
                    row.check.name,
                    row.verdict.as_str()
                ));
            }
        }
        i = end;
    }
}

/// A progress bar on stderr, only when both stdout and stderr are terminals and
/// the output is the table.
fn progress(args: &CheckArgs, total: usize) -> Option<indicatif::ProgressBar> {
    let on_terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    if !on_terminal || args.output != Output::Text || total == 0 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("checking {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}
