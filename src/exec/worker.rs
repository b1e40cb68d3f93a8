//! One node's steps, run by a worker thread.
//!
//! A guest's steps run in order: `define` (destroy first when replacing, then create
//! or clone, stamped `building:`), `configure`, then the guest is started, each
//! `feature:X` (after a `pre-X` snapshot, so a changed feature can roll back to it),
//! `app` with its health checks, and the template `snapshot`. The record is written
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

use std::sync::mpsc::Sender;
use std::time::Instant;

use super::coordinator::Msg;
use super::events::{Event, Outcome};
use super::options::Options;
use super::pool::Pools;
use super::scripts;
use crate::backend::{Backend, CloneFrom, GuestCtx, HostStep, Log, OpError, OpResult, Script};
use crate::defs::{Definitions, Guest, GuestKind, Layout, TemplateModel};
use crate::graph::NodeId;
use crate::inventory::Observed;
use crate::key::{NodeKeys, StepKey};
use crate::plan::{Action, ActionKind};
use crate::state::{NodeRecord, StateError, StepRecord, now};
use crate::step::{FINAL_FORM, PRE_CONFIGURED, Step};

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

    /// Retry lock-type errors with exponential backoff.
    fn retrying(&self, node: NodeId, step: &str, mut f: impl FnMut() -> OpResult) -> OpResult {
        let mut attempt = 0;
        loop {
            match f() {
                Err(e) if e.retryable && attempt < self.opts.retries => {
                    attempt += 1;
                    self.event(Event::Retry {
                        node,
                        step: step.to_string(),
                        attempt,
                        error: e.message.clone(),
                    });
                    std::thread::sleep(self.opts.backoff * 2u32.saturating_pow(attempt - 1));
                }
                other => return other,
            }
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

    fn guest(
        &self,
        g: &Guest,
        mut job: Job,
        log: &mut Log,
    ) -> Result<(Outcome, usize), (OpError, usize)> {
        let node = job.action.node;
        let source = CloneFrom::of(self.defs, g);
        let converted = g.template == TemplateModel::Converted;
        let ctx = GuestCtx {
            node,
            guest: g,
            defs: self.defs,
            source,
            timeout: self.opts.step_timeout,
        };
        let mut record = std::mem::replace(&mut job.record, NodeRecord::new(&node.to_string()));
        let mut steps_run = 0;
        let mut started = false;
        // Where Proxmox cannot snapshot the guest there are no `pre-` snapshots;
        // the planner rebuilds such a guest instead of rolling a changed feature back.
        let no_snapshots = crate::defs::snapshot_blocker(self.defs, g);
        let exists = job.observed.is_some();
        // `enable_lifecycle_snapshots`: `pre-configured` before the features of a
        // guest built from the start, `final-form` when its content is done, where
        // Proxmox can take them (never on a converted template, which may hold none).
        let lifecycle = g.lifecycle_snapshots && !converted && no_snapshots.is_none();
        let from_scratch = job.action.steps.first() == Some(&Step::Define);
        let mut content_ran = false;

        let rolled_back_to = if job.action.action == ActionKind::Resume {
            self.rewind(&ctx, &job, &mut record, no_snapshots.as_deref(), log)
                .map_err(|e| (e, steps_run))?
        } else {
            None
        };

        for step in &job.action.steps {
            if let Some(e) = self.opts.interrupt.stop_before(node, step) {
                return Err((e, steps_run));
            }
            let key = if *step == Step::Configure {
                job.keys.configure.as_ref()
            } else {
                job.keys.chain.iter().find(|k| k.step == *step)
            };
            let Some(key) = key else { continue };
            let chain_idx = job.keys.chain.iter().position(|k| k.step == *step);
            let label = step.to_string();
            if !matches!(step, Step::Define | Step::Configure | Step::Template) && !started {
                self.timed(node, "start", || self.backend.start(&ctx, log))
                    .map_err(|e| (e, steps_run))?;
                started = true;
                if lifecycle && from_scratch {
                    self.timed(node, &format!("snapshot:{PRE_CONFIGURED}"), || {
                        self.backend.snapshot(&ctx, PRE_CONFIGURED, log)
                    })
                    .map_err(|e| (e, steps_run))?;
                }
            }
            let r = match step {
                Step::Define => {
                    // Nothing recorded survives a re-creation.
                    record.steps.clear();
                    record.configure = None;
                    record.started = None;
                    self.record(node, &record).map_err(|e| (e, steps_run))?;
                    self.timed(node, &label, || {
                        if exists {
                            let _storage = self.storage_permit(g);
                            self.destroy_linked(&ctx, &job.action.destroy_first, log)?;
                            self.backend.destroy(&ctx, log)?;
                        }
                        let _clone = ctx
                            .source
                            .as_ref()
                            .map(|c| self.pools.source(c.guest.id).acquire());
                        let _storage = self.storage_permit(g);
                        self.backend
                            .create(&ctx, &format!("building:{}", key.key), log)
                    })
                }
                Step::Configure => self.timed(node, &label, || self.backend.configure(&ctx, log)),
                Step::Feature(feature) => {
                    if rolled_back_to.as_ref() != Some(step) && no_snapshots.is_none() {
                        let snap = format!("pre-{feature}");
                        self.timed(node, &format!("snapshot:{snap}"), || {
                            self.backend.snapshot(&ctx, &snap, log)
                        })
                        .map_err(|e| (e, steps_run))?;
                    }
                    // From here the guest holds what this attempt does; should it
                    // not finish, the next build knows to go back to `pre-X`.
                    if record.started.as_ref() != Some(step) {
                        record.started = Some(step.clone());
                        record.updated_at = now();
                        self.record(node, &record).map_err(|e| (e, steps_run))?;
                    }
                    self.feature(&ctx, feature, log)
                        .map_err(|e| (e, steps_run))?
                }
                Step::App => self.timed(node, &label, || self.app(&ctx, log)),
                Step::Snapshot => {
                    let name = g.template_snapshot_name();
                    self.timed(node, &label, || self.backend.snapshot(&ctx, name, log))
                }
                Step::Template => self.timed(node, &label, || self.backend.template(&ctx, log)),
                Step::Run => Err(OpError::new(format!("a guest has no step `{step}`"))),
            };
            r.map_err(|e| (e, steps_run))?;
            steps_run += 1;
            content_ran |= *step != Step::Configure;
            let rec = step_record(key);
            if *step == Step::Configure {
                record.configure = Some(rec);
            } else if let Some(i) = chain_idx {
                record.steps.truncate(i);
                record.steps.push(rec);
                record.started = None;
            }
            record.updated_at = now();
            self.record(node, &record).map_err(|e| (e, steps_run))?;
        }
        if !started && job.action.action != ActionKind::Update && !converted {
            self.timed(node, "start", || self.backend.start(&ctx, log))
                .map_err(|e| (e, steps_run))?;
        }
        if lifecycle && content_ran && g.template.snapshot_name() != Some(FINAL_FORM) {
            self.timed(node, &format!("snapshot:{FINAL_FORM}"), || {
                self.backend.snapshot(&ctx, FINAL_FORM, log)
            })
            .map_err(|e| (e, steps_run))?;
        }
        // A snapshot template is done once its snapshot is taken: its clones start
        // from the snapshot, so the template itself need not (and, holding a 72 GB
        // model, must not) keep running.
        if matches!(g.template, TemplateModel::Snapshot { .. }) {
            self.timed(node, "stop", || self.backend.stop(&ctx, log))
                .map_err(|e| (e, steps_run))?;
        }
        self.stamp(
            &ctx,
            &crate::inventory::built_stamp(job.keys),
            &mut record,
            log,
        )
        .map_err(|e| (e, steps_run))?;
        let outcome = if job.action.action == ActionKind::Update {
            Outcome::Updated
        } else {
            Outcome::Built
        };
        Ok((outcome, steps_run))
    }

    /// Destroy the linked clones of a converted template about to be made again,
    /// in the plan's order (deepest first), so that Proxmox lets the template go.
    /// Their own jobs, which wait for the template, create them again.
    fn destroy_linked(&self, template: &GuestCtx, clones: &[NodeId], log: &mut Log) -> OpResult {
        for &clone in clones {
            let Some(guest) = clone.guest_id().and_then(|id| self.defs.guest(id)) else {
                continue;
            };
            log.notice(&format!(
                "destroying {clone} first: it is a linked clone of {}, which is made again",
                template.node
            ));
            let ctx = GuestCtx {
                node: clone,
                guest,
                defs: self.defs,
                source: CloneFrom::of(self.defs, guest),
                timeout: template.timeout,
            };
            self.backend.destroy(&ctx, log)?;
        }
        Ok(())
    }

    /// The last step: `built:<output key>` (and its proof) on the guest. What it
    /// stands for is recorded, durably, first, so no guest is stamped built with
    /// keys the state directory does not hold. A stamp that fails (or a build
    /// stopped before it) leaves the guest stamped `building` under a complete
    /// record: the next build writes the stamp again, and nothing else. The stamp
    /// is retried like any step on a lock error.
    fn stamp(
        &self,
        ctx: &GuestCtx,
        stamp: &str,
        record: &mut NodeRecord,
        log: &mut Log,
    ) -> Result<(), OpError> {
        let node = ctx.node;
        self.sync(node)?;
        self.retrying(node, "stamp", || self.backend.stamp(ctx, stamp, log))
            .map_err(|e| OpError {
                message: format!(
                    "cannot stamp {node} as built: {}; it is not built until it is, and the next build stamps it",
                    e.message
                ),
                retryable: false,
            })?;
        record.updated_at = now();
        self.record(node, record)
    }

    /// Before a resumed guest runs its first content step: roll it back to the
    /// `pre-` snapshot of a feature that left its mark on it, which is the feature
    /// it resumes at when that ran before (and changed since), or the feature whose
    /// last attempt did not finish (the record's `started`: its snapshot holds the
    /// guest as the recorded steps left it). Returns the feature rolled back to, whose
    /// snapshot is then not taken again.
    fn rewind(
        &self,
        ctx: &GuestCtx,
        job: &Job,
        record: &mut NodeRecord,
        no_snapshots: Option<&str>,
        log: &mut Log,
    ) -> Result<Option<Step>, OpError> {
        let node = ctx.node;
        let Some(step) = job.action.steps.iter().find(|s| **s != Step::Configure) else {
            return Ok(None);
        };
        let Some(idx) = job.keys.chain.iter().position(|k| k.step == *step) else {
            return Ok(None);
        };
        let have = |snap: &str| {
            job.observed
                .is_some_and(|o| o.snapshots.is_empty() || o.snapshots.iter().any(|s| s == snap))
        };
        let target = if record.steps.len() > idx && step.feature().is_some() {
            // A feature that ran and changed: without its snapshot the guest cannot
            // return to before it.
            let snap = step.pre_snapshot().unwrap_or_default();
            if !have(&snap) {
                return Err(OpError::new(format!(
                    "no snapshot `{snap}` to roll back to; rebuild with --force {node}"
                )));
            }
            step.clone()
        } else if record.steps.len() == idx
            && let Some(tried) = record.started.clone().filter(|s| s.feature().is_some())
        {
            let snap = tried.pre_snapshot().unwrap_or_default();
            let missing = match no_snapshots {
                Some(why) => Some(format!("Proxmox cannot snapshot it: {why}")),
                None if !have(&snap) => Some(format!("its snapshot `{snap}` is gone")),
                None => None,
            };
            if let Some(why) = missing {
                let what = if tried == *step {
                    "it runs again".to_string()
                } else {
                    format!("`{step}` runs")
                };
                log.notice(&format!(
                    "`{tried}` did not finish last time and cannot be rolled back ({why}); {what} on top of what it left"
                ));
                return Ok(None);
            }
            log.note(&format!(
                "`{tried}` did not finish last time: back to `{snap}`, taken before it"
            ));
            tried
        } else {
            return Ok(None);
        };
        let snap = target.pre_snapshot().unwrap_or_default();
        self.timed(node, &format!("rollback:{snap}"), || {
            self.backend.rollback(ctx, &snap, log)
        })?;
        record.steps.truncate(idx);
        record.updated_at = now();
        self.record(node, record)?;
        // Settings live in the config, which the snapshot copy replaced.
        self.backend.configure(ctx, log)?;
        Ok((target == *step).then_some(target))
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
        for h in &g.health_checks {
            log.note(&format!("health check `{}`", h.name));
            let script = scripts::guest_script(
                self.defs,
                g,
                &self.defs.layout.health(&h.script),
                h.args.clone(),
            );
            self.backend.exec(ctx, &script, log).map_err(|e| OpError {
                message: format!("health check `{}` failed: {}", h.name, e.message),
                retryable: false,
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
        key: k.key.hex(),
        manifest: crate::state::RecordedManifest::new(&k.manifest),
        finished_at: now(),
    }
}
