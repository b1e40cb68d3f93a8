//! A build's reporters: progress bars on a terminal, plain lines otherwise, JSON
//! lines for machines; and the summary table. They subscribe to the executor's
//! events and never see the scheduler.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::table::{Column, Table, Width};
use crate::exec::Reporter;
use crate::exec::events::{Event, Outcome, Summary};
use crate::graph::NodeId;

fn outcome_str(o: Outcome) -> &'static str {
    match o {
        Outcome::Built => "built",
        Outcome::Updated => "updated",
        Outcome::Fresh => "fresh",
        Outcome::Failed => "failed",
        Outcome::Skipped => "skipped",
        Outcome::Interrupted => "interrupted",
        Outcome::Started => "started",
        Outcome::Stopped => "stopped",
        Outcome::Unchanged => "unchanged",
    }
}

/// The line a Ctrl-C gets while the build winds down.
fn interrupted_line(running: usize, killing: bool) -> String {
    if killing {
        format!("interrupted again: killing the running steps of {running} node(s)")
    } else {
        format!(
            "interrupted: nothing new starts; waiting for the running step of {running} node(s) to finish (Ctrl-C again kills them)"
        )
    }
}

/// The summary table printed at the end of a build.
pub fn summary_text(s: &Summary) -> String {
    let mut table = Table::new([
        Column::left("", Width::Fit),
        Column::left("  ", Width::AtLeast(8)),
        Column::right(" ", Width::AtLeast(9)),
        Column::left("  ", Width::Free),
    ]);
    table.row(["node", "outcome", "time", "log / detail"]);
    for r in &s.results {
        let time = if r.duration_ms == 0 {
            "-".to_string()
        } else {
            format!("{:.1}s", r.duration_ms as f64 / 1000.0)
        };
        let mut tail = r
            .log
            .as_ref()
            .filter(|_| r.steps_run > 0 || r.outcome == Outcome::Failed)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if let Some(d) = &r.detail {
            if !tail.is_empty() {
                tail.push_str("  ");
            }
            tail.push_str(d);
        }
        table.row([
            r.node.to_string(),
            outcome_str(r.outcome).to_string(),
            time,
            tail,
        ]);
    }
    let mut out = table.render();
    let count = |o: Outcome| s.results.iter().filter(|r| r.outcome == o).count();
    if s.interrupted {
        out.push_str(&format!(
            "interrupted (Ctrl-C), {} node(s) stopped: ",
            count(Outcome::Interrupted)
        ));
    }
    if let Some(operation) = s.operation {
        out.push_str(&operation_line(s, operation));
        return out;
    }
    out.push_str(&format!(
        "{} steps run in {:.1}s: {} built, {} updated, {} fresh, {} failed, {} skipped\n",
        s.steps_run,
        s.elapsed_ms as f64 / 1000.0,
        count(Outcome::Built),
        count(Outcome::Updated),
        count(Outcome::Fresh),
        count(Outcome::Failed),
        count(Outcome::Skipped)
    ));
    out
}

/// The last line of `start`, `stop`, `restart` and `up`: every outcome that
/// occurred, failures and skips always.
fn operation_line(s: &Summary, operation: &str) -> String {
    let count = |o: Outcome| s.results.iter().filter(|r| r.outcome == o).count();
    let mut parts: Vec<String> = [
        Outcome::Built,
        Outcome::Updated,
        Outcome::Fresh,
        Outcome::Started,
        Outcome::Stopped,
        Outcome::Unchanged,
        Outcome::Interrupted,
    ]
    .into_iter()
    .filter(|o| count(*o) > 0)
    .map(|o| format!("{} {}", count(o), outcome_str(o)))
    .collect();
    for o in [Outcome::Failed, Outcome::Skipped] {
        parts.push(format!("{} {}", count(o), outcome_str(o)));
    }
    format!(
        "{operation}: {} operations run in {:.1}s: {}\n",
        s.steps_run,
        s.elapsed_ms as f64 / 1000.0,
        parts.join(", ")
    )
}

/// One line per event worth a line; for logs and pipes.
#[derive(Default)]
pub struct Plain;

impl Reporter for Plain {
    fn event(&mut self, e: &Event) {
        let line = match e {
            Event::BuildStarted {
                nodes,
                to_run,
                jobs,
                backend,
            } => format!("build: {to_run} of {nodes} nodes to run, -j {jobs}, {backend} backend"),
            Event::OperationStarted {
                operation,
                nodes,
                to_run,
                jobs,
                backend,
            } => format!(
                "{operation}: {to_run} of {nodes} guests to {operation}, -j {jobs}, {backend} backend"
            ),
            Event::StepStarted { node, step } => format!("{node}: {step} ..."),
            Event::StepFinished {
                node,
                step,
                ok: false,
                error,
                ..
            } => format!("{node}: {step} failed: {}", error.as_deref().unwrap_or("")),
            Event::Retry {
                node,
                step,
                attempt,
                error,
            } => format!("{node}: {step}: retry {attempt} after: {error}"),
            Event::Interrupted { running, killing } => interrupted_line(*running, *killing),
            Event::NodeFinished(r) if r.outcome != Outcome::Fresh => {
                format!(
                    "{}: {}{}",
                    r.node,
                    outcome_str(r.outcome),
                    r.detail
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                )
            }
            _ => return,
        };
        let _ = writeln!(std::io::stderr(), "{line}");
    }

    fn finish(&mut self, s: &Summary) {
        let _ = std::io::stdout().write_all(summary_text(s).as_bytes());
    }
}

/// Newline-delimited JSON events on stdout; the last line is the summary. Lines are
/// buffered and flushed whenever a node finishes, at a Ctrl-C and before a wait to
/// try a step again, so a consumer sees every node's outcome as it happens, and
/// why a build is waiting, without a write per event.
pub struct Json {
    out: std::io::BufWriter<std::io::Stdout>,
}

impl Default for Json {
    fn default() -> Self {
        Json {
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
        }
    }
}

impl Reporter for Json {
    fn event(&mut self, e: &Event) {
        let mut v = serde_json::to_value(e).unwrap_or_default();
        if let (Event::NodeFinished(r), Some(obj)) = (e, v.as_object_mut()) {
            // Flattened node result: every event has `event`, `node` and `step`.
            obj.insert("event".into(), "node_finished".into());
            obj.insert("outcome".into(), outcome_str(r.outcome).into());
        }
        if let Some(obj) = v.as_object_mut() {
            obj.entry("node").or_insert(serde_json::Value::Null);
            obj.entry("step").or_insert(serde_json::Value::Null);
        }
        let _ = writeln!(self.out, "{v}");
        if matches!(
            e,
            Event::NodeFinished(_) | Event::Interrupted { .. } | Event::Retry { .. }
        ) {
            let _ = self.out.flush();
        }
    }

    fn finish(&mut self, s: &Summary) {
        let nodes: serde_json::Map<String, serde_json::Value> = s
            .results
            .iter()
            .map(|r| (r.node.to_string(), outcome_str(r.outcome).into()))
            .collect();
        let mut v = serde_json::json!({"event": "summary", "node": null, "step": null, "steps_run": s.steps_run, "elapsed_ms": s.elapsed_ms, "interrupted": s.interrupted, "nodes": nodes});
        if let (Some(op), Some(obj)) = (s.operation, v.as_object_mut()) {
            obj.insert("operation".into(), op.into());
        }
        let _ = writeln!(self.out, "{v}");
        let _ = self.out.flush();
    }
}

/// indicatif progress: an overall bar and a line per running node with its step and time.
pub struct Progress {
    multi: MultiProgress,
    overall: ProgressBar,
    lines: HashMap<NodeId, (ProgressBar, Instant)>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub fn new() -> Progress {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {pos}/{len} nodes {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        overall.set_prefix("build");
        Progress {
            multi,
            overall,
            lines: HashMap::new(),
        }
    }
}

impl Reporter for Progress {
    fn event(&mut self, e: &Event) {
        match e {
            Event::BuildStarted { to_run, .. } => self.overall.set_length(*to_run as u64),
            Event::OperationStarted {
                operation, to_run, ..
            } => {
                self.overall.set_prefix(*operation);
                self.overall.set_position(0);
                self.overall.set_length(*to_run as u64);
            }
            Event::NodeStarted { node, .. } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("  {spinner} {prefix:<12} {msg} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(node.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                self.lines.insert(*node, (bar, Instant::now()));
            }
            Event::StepStarted { node, step } => {
                if let Some((bar, _)) = self.lines.get(node) {
                    bar.set_message(step.clone());
                }
            }
            Event::Retry {
                node,
                step,
                attempt,
                ..
            } => {
                if let Some((bar, _)) = self.lines.get(node) {
                    bar.set_message(format!("{step} (retry {attempt})"));
                }
            }
            Event::NodeFinished(r) => {
                if let Some((bar, t0)) = self.lines.remove(&r.node) {
                    bar.finish_and_clear();
                    let _ = self.multi.println(format!(
                        "{} {} in {:.1}s{}",
                        r.node,
                        outcome_str(r.outcome),
                        t0.elapsed().as_secs_f64(),
                        r.detail
                            .as_ref()
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default()
                    ));
                    self.overall.inc(1);
                } else if matches!(
                    r.outcome,
                    Outcome::Skipped | Outcome::Failed | Outcome::Interrupted
                ) {
                    let _ = self.multi.println(format!(
                        "{} {}{}",
                        r.node,
                        outcome_str(r.outcome),
                        r.detail
                            .as_ref()
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default()
                    ));
                    self.overall.inc(1);
                }
            }
            Event::Interrupted { running, killing } => {
                let _ = self.multi.println(interrupted_line(*running, *killing));
            }
            Event::StepFinished { .. } => {}
        }
    }

    fn finish(&mut self, s: &Summary) {
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
        let _ = std::io::stdout().write_all(summary_text(s).as_bytes());
    }
}
