//! One node's steps, run by a worker thread.
//!
//! A guest's steps run in order: `define` (destroy first when replacing, then create
//! or clone, stamped `building:`), `configure`, then the guest is started, each
//! `feature:X` (after a `pre-X` snapshot, so a changed feature can roll back to it),
//! `app` with its health checks, and the template `snapshot` or `template`. The record is written
//! after every step; the final stamp `built:<output key>` goes on the guest last, so
//! a guest whose stamp says built is complete.
//!
//! The state directory is part of the build: a record that cannot be written (a
//! full disk) fails the node like a failed step, so nothing is done to a guest that
//! the state would not know of. The stamp is a step too: until it is on the guest
//! the record holds the node's settings step back, so a build whose stamp failed is
//! not taken for finished by the next one, which applies the settings again and
//! stamps. A resume rolls a guest back to the `pre-` snapshot of the feature it
//! starts at when that feature ran before (it changed since) or when its last
//! attempt failed or was cut short (the record's `started`); where Proxmox cannot
//! snapshot the guest, the summary says that the feature runs again on top.
//!
//! A converted template (`is_template`) ends with `template` (stopped, its
//! snapshots deleted, converted) and never starts again; its linked clones on the
//! host are destroyed inside its `define` when it is made again. With
//! `enable_lifecycle_snapshots`, a guest that can hold snapshots also gets
//! `pre-configured` before its features and `final-form` after its content.
//!
//! Rooms: this file (the job, host steps, features and the app), `guest` (a
//! guest's steps in order) and `rewind` (the rollback of a resumed guest, and
//! the stamp).

use std::sync::mpsc::Sender;
use std::time::Instant;

use super::coordinator::Msg;
use super::events::{Event, Outcome};
use super::health;
use super::options::Options;
use super::pool::Pools;
use super::scripts;
use crate::backend::{Backend, GuestCtx, HostStep, Log, OpError, OpResult, Script};
use crate::defs::{Definitions, Guest, GuestKind, Layout};
use crate::graph::NodeId;
use crate::inventory::Observed;
use crate::key::{NodeKeys, StepKey};
use crate::plan::{Action, ActionKind};
use crate::state::{NodeRecord, StateError, StepRecord, now};

mod guest;
mod rewind;

pub(super) struct Job<'a> {
    pub action: &'a Action,
    pub keys: &'a NodeKeys,
    pub record: NodeRecord,
    pub observed: Option<&'a Observed>,
    pub log_path: std::path::PathBuf,
}

pub(super) struct Worker<'a> {
    pub defs: &'a Definitions,
    pub backend: &'a dyn Backend,
    pub opts: &'a Options,
    pub pools: &'a Pools,
    pub tx: Sender<Msg>,
    pub journal: &'a crate::state::Journal,
}

impl Worker<'_> {
    fn send(&self, m: Msg) {
        let _ = self.tx.send(m);
    }

    /// Record a node's progress. Each node's record has one writer, the worker that
    /// runs it, so workers write their own records and their fsyncs run in parallel.
    /// A record that cannot be written fails the node: going on would build what the
    /// state directory does not know of.
    fn record(&self, node: NodeId, record: &NodeRecord) -> Result<(), OpError> {
        self.journal
            .append(record)
            .map_err(|e| state_failure(node, &e))
    }

    /// Make the node's records durable (see the module doc of `exec`).
    fn sync(&self, node: NodeId) -> Result<(), OpError> {
        self.journal.sync().map_err(|e| state_failure(node, &e))
    }

    fn event(&self, e: Event) {
        self.send(Msg::Event(e));
    }

    /// Retry lock-type errors with exponential backoff (`retry`); a Ctrl-C stops
    /// the node before a new try.
    fn retrying(&self, node: NodeId, step: &str, f: impl FnMut() -> OpResult) -> OpResult {
        let tried = self.opts.retry().run(f, |attempt, e| {
            self.event(Event::Retry {
                node,
                step: step.to_string(),
                attempt,
                error: e.message.clone(),
            });
        });
        if tried.interrupted {
            tried
                .result
                .map_err(|e| self.opts.interrupt.stop_retrying(node, step, &e))
        } else {
            tried.result
        }
    }

    pub fn run(&self, job: Job) -> (Outcome, Option<String>, usize) {
        let node = job.action.node;
        let mut log = Log::open(&job.log_path);
        log.note(&format!(
            "== {} {} at {} ({} backend)",
            job.action.action.as_str(),
            node,
            now(),
            self.backend.name()
        ));
        for r in &job.action.reasons {
            log.note(&format!("because {r}"));
        }
        let result = match node {
            NodeId::Host(name) => self.host(name, job, &mut log),
            NodeId::Ct(id) | NodeId::Vm(id) => match self.defs.guest(id) {
                Some(g) => self.guest(g, job, &mut log),
                None => Err((OpError::new("not defined"), 0)),
            },
        };
        // A node's records reach the disk before the node counts as finished (and
        // before anything that needs it starts); see the module doc of `exec`. A
        // built guest's were synced before its stamp: the one written after it only
        // puts the settings step back, whose loss would cost a settings update.
        let result = match result {
            Ok(done) if node.guest_id().is_some() => Ok(done),
            result => match (result, self.sync(node)) {
                (Ok((_, steps)), Err(e)) => Err((e, steps)),
                (result, _) => result,
            },
        };
        let notices = log.notices().join("; ");
        match result {
            Ok((outcome, steps)) => (outcome, (!notices.is_empty()).then_some(notices), steps),
            Err((e, steps)) => {
                log.note(&format!("failed: {}", e.message));
                let detail = if notices.is_empty() {
                    e.message
                } else {
                    format!("{}; {notices}", e.message)
                };
                (Outcome::Failed, Some(detail), steps)
            }
        }
    }

    fn timed(&self, node: NodeId, step: &str, f: impl FnMut() -> OpResult) -> OpResult {
        self.event(Event::StepStarted {
            node,
            step: step.to_string(),
        });
        let started = Instant::now();
        let r = self.retrying(node, step, f);
        self.event(Event::StepFinished {
            node,
            step: step.to_string(),
            ok: r.is_ok(),
            duration_ms: started.elapsed().as_millis(),
            error: r.as_ref().err().map(|e| e.message.clone()),
        });
        r
    }

    fn host(
        &self,
        name: &'static str,
        job: Job,
        log: &mut Log,
    ) -> Result<(Outcome, usize), (OpError, usize)> {
        let spec = crate::defs::host::spec(name).ok_or((OpError::new("unknown host step"), 0))?;
        let step = &job.keys.chain[0];
        let host_step = HostStep {
            name,
            defs: self.defs,
            wipe_disks: self.opts.wipe_disks,
            timeout: self.opts.step_timeout,
        };
        if let Some(rel) = self.defs.host_script(spec) {
            let config = self.defs.path_of(&self.defs.hypervisor_file);
            let config = std::fs::canonicalize(&config).unwrap_or(config);
            let script = Script {
                name: rel.clone(),
                path: self.defs.path_of(&rel),
                args: vec![config.display().to_string()],
                env: Vec::new(),
                files: Vec::new(),
                inputs: scripts::definition_files(self.defs),
            };
            self.timed(job.action.node, "run", || {
                self.backend.host(&script, self.opts.step_timeout, log)
            })
        } else {
            self.timed(job.action.node, "run", || {
                self.backend.host_builtin(&host_step, log)
            })
        }
        .and_then(|()| self.backend.after_host_step(&host_step, log))
        .map_err(|e| (e, 1))?;
        let mut record = job.record;
        record.steps = vec![step_record(step)];
        record.updated_at = now();
        self.record(job.action.node, &record).map_err(|e| (e, 1))?;
        Ok((
            if job.action.action == ActionKind::Update {
                Outcome::Updated
            } else {
                Outcome::Built
            },
            1,
        ))
    }

    /// A feature script, in the guest; or, for an installed shell tool's container
    /// feature scripts (`bin/lxc_setup/`), on the host, reaching into the guest with
    /// `pct exec` themselves (reference §2.4).
    fn feature(&self, ctx: &GuestCtx, feature: &str, log: &mut Log) -> Result<OpResult, OpError> {
        let (g, node) = (ctx.guest, ctx.node);
        let label = format!("feature:{feature}");
        let rel = self.defs.feature_script(g.kind, feature);
        let ca = g.bootstrap_ca_url.clone().unwrap_or_default();
        let script = scripts::guest_script(self.defs, g, &rel, vec![g.id.to_string(), ca]);
        if self.defs.layout == Layout::Legacy && g.kind == GuestKind::Ct {
            let timeout = self.opts.step_timeout;
            let dir = tempfile::Builder::new()
                .prefix("phoenix-feature-")
                .tempdir()
                .map_err(|e| OpError::new(format!("cannot make a scratch directory: {e}")))?;
            let script = scripts::on_host(self.defs, script, dir.path())?;
            Ok(self.timed(node, &label, || self.backend.host(&script, timeout, log)))
        } else {
            Ok(self.timed(node, &label, || self.backend.exec(ctx, &script, log)))
        }
    }

    /// The application script, then the health checks.
    fn app(&self, ctx: &GuestCtx, log: &mut Log) -> OpResult {
        let g = ctx.guest;
        if let Some(app) = &g.application_script {
            let script = scripts::guest_script(
                self.defs,
                g,
                &self.defs.layout.app(app),
                vec![g.id.to_string()],
            );
            self.backend.exec(ctx, &script, log)?;
        }
        let again = health::Again {
            retry: self.opts.retry(),
            on_retry: &|attempt, e| {
                self.event(Event::Retry {
                    node: ctx.node,
                    step: "app".to_string(),
                    attempt,
                    error: e.message.clone(),
                });
            },
        };
        for h in &g.health_checks {
            let ran = health::run(self.defs, self.backend, ctx, h, &again, log);
            ran.result.map_err(|e| {
                if ran.interrupted {
                    self.opts.interrupt.stop_retrying(ctx.node, "app", &e)
                } else {
                    health::failed(h, &e)
                }
            })?;
        }
        Ok(())
    }

    /// Creations on one storage are bounded; as before, only containers take a
    /// permit (a VM's storage is the shared `vm_defaults` pool).
    fn storage_permit(&self, g: &Guest) -> Option<super::pool::Permit<'static>> {
        (g.kind == GuestKind::Ct)
            .then_some(g.shape.storage_pool.as_deref())
            .flatten()
            .map(|s| self.pools.storage(s).acquire())
    }
}

/// A state write that failed, as the node's failure.
fn state_failure(node: NodeId, e: &StateError) -> OpError {
    OpError::new(format!(
        "cannot record the progress of {node}: {e}; nothing more is done to it: make room in (or repair) the state directory and build again"
    ))
}

fn step_record(k: &StepKey) -> StepRecord {
    StepRecord {
        step: k.step.clone(),
        key: k.key.into(),
        manifest: crate::state::RecordedManifest::new(&k.manifest),
        finished_at: now(),
    }
}
