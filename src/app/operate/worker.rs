//! One guest's operation, on a worker thread of `runner`: `start` (then, at
//! `up`, the sync hook of a flagged guest) or `shutdown`, each a step with the
//! events a build's steps have, retried with backoff on a lock error.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::decide::sync_flagged;
use super::runner::{Cx, Done, Msg};
use crate::backend::{GuestCtx, Log, OpResult};
use crate::exec::{self, Event, Outcome};
use crate::graph::NodeId;
use crate::graph::runtime::Way;

/// One guest's operation, on a worker thread.
pub(super) fn work(cx: &Cx, way: Way, node: NodeId, tx: &mpsc::Sender<Msg>) -> Done {
    let t0 = Instant::now();
    let mut done = Done {
        node,
        outcome: Outcome::Failed,
        detail: None,
        ops: 0,
        took: Duration::ZERO,
        started: false,
        runs: false,
    };
    let Some(g) = node.guest_id().and_then(|id| cx.defs.guest(id)) else {
        done.detail = Some("not defined".into());
        return done;
    };
    let name = match way {
        Way::Start => "start",
        Way::Stop => "stop",
    };
    let _ = tx.send(Msg::Event(Event::NodeStarted {
        node,
        step: Some(name.into()),
        action: name,
    }));
    let mut log = Log::open(&exec::log_path(cx.state, node));
    log.note(&format!("== {name} {node} ({} backend)", cx.backend.name()));
    let ctx = GuestCtx {
        node,
        guest: g,
        defs: cx.defs,
        source: None,
        timeout: Duration::from_mins(5),
    };
    let running = cx.inventory.get(&node).is_some_and(|o| o.running);
    let step = |step: &str, log: &mut Log, f: &mut dyn FnMut(&mut Log) -> OpResult| {
        let _ = tx.send(Msg::Event(Event::StepStarted {
            node,
            step: step.to_string(),
        }));
        let started = Instant::now();
        let r = retrying(cx, node, step, tx, || f(log));
        let _ = tx.send(Msg::Event(Event::StepFinished {
            node,
            step: step.to_string(),
            ok: r.is_ok(),
            duration_ms: started.elapsed().as_millis(),
            error: r.as_ref().err().map(|e| e.message.clone()),
        }));
        r
    };
    let result = match way {
        Way::Stop => step("stop", &mut log, &mut |log| {
            cx.backend
                .shutdown(&ctx, cx.opts.shutdown, cx.opts.force, log)
        })
        .map(|()| (Outcome::Stopped, None)),
        Way::Start => {
            let started = if running {
                Ok(false)
            } else {
                step("start", &mut log, &mut |log| cx.backend.start(&ctx, log)).map(|()| true)
            };
            done.started = started == Ok(true);
            done.runs = started.is_ok();
            done.ops += usize::from(done.started);
            started.and_then(|started| {
                let outcome = if started {
                    Outcome::Started
                } else {
                    Outcome::Unchanged
                };
                let mut said: Vec<String> = Vec::new();
                if !started {
                    said.push("already running".into());
                }
                match cx.opts.hook.as_ref().filter(|_| sync_flagged(g)) {
                    Some(h) if h.exists => {
                        done.ops += 1;
                        step("hook:sync", &mut log, &mut |log| {
                            h.run(cx.backend, cx.defs, g, log)
                        })
                        .map_err(|mut e| {
                            e.message = format!(
                                "it runs, but its sync hook {} failed: {}",
                                h.rel, e.message
                            );
                            e
                        })?;
                        said.push(format!("sync hook {} ran", h.rel));
                    }
                    Some(h) => {
                        log.notice(&h.missing());
                        said.push(h.missing());
                    }
                    None => {}
                }
                Ok((outcome, (!said.is_empty()).then(|| said.join("; "))))
            })
        }
    };
    match result {
        Ok((outcome, detail)) => {
            done.outcome = outcome;
            done.detail = detail;
            if way == Way::Stop {
                done.ops += 1;
            }
        }
        Err(e) => {
            if way == Way::Stop {
                done.ops += 1;
            }
            done.detail = Some(e.message.lines().next().unwrap_or_default().to_string());
        }
    }
    done.took = t0.elapsed();
    done
}

/// `f`, retried with backoff while it fails with a lock error, as a build's steps
/// are (`exec::retry`): after a Ctrl-C, the last failure.
fn retrying(
    cx: &Cx,
    node: NodeId,
    step: &str,
    tx: &mpsc::Sender<Msg>,
    f: impl FnMut() -> OpResult,
) -> OpResult {
    let retry = exec::retry::Retry {
        retries: cx.opts.retries,
        backoff: cx.opts.backoff,
        interrupt: Some(&cx.opts.interrupt),
    };
    retry
        .run(f, |attempt, e| {
            let _ = tx.send(Msg::Event(Event::Retry {
                node,
                step: step.to_string(),
                attempt,
                error: e.message.clone(),
            }));
        })
        .result
}
