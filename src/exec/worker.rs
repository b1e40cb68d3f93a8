//! One node's steps, run by a worker thread.
//!
//! A guest's steps run in order: `define` (destroy first when replacing, then create
//! or clone, stamped `building:`), `configure`, then the guest is started, each
//! `feature:X` (after a `pre-X` snapshot, so a changed feature can roll back to it),
//! `app` with its health checks, and the template `snapshot`. The record is sent to
//! the coordinator after every step; the final stamp `built:<output key>` goes on the
//! guest last, so a guest whose stamp says built is complete.

use std::sync::mpsc::Sender;
use std::time::Instant;

use super::coordinator::Msg;
use super::events::{Event, Outcome};
use super::options::Options;
use super::pool::Pools;
use super::scripts;
use crate::backend::{Backend, GuestCtx, HostStep, Log, OpError, OpResult, Script};
use crate::defs::{Definitions, Guest, GuestKind, Layout, TemplateModel};
use crate::graph::NodeId;
use crate::inventory::Observed;
use crate::key::{NodeKeys, StepKey};
use crate::plan::{Action, ActionKind};
use crate::state::{NodeRecord, StepRecord, now};
use crate::step::Step;

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
    fn record(&self, node: NodeId, record: &NodeRecord) {
        if let Err(e) = self.journal.append(record) {
            tracing::error!("cannot record {node}: {e}");
            self.event(Event::Retry {
                node,
                step: "record".into(),
                attempt: 0,
                error: e.to_string(),
            });
        }
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
        // before anything that needs it starts); see the module doc of `exec`.
        if let Err(e) = self.journal.sync() {
            tracing::error!("cannot sync the state journal: {e}");
        }
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
        self.record(job.action.node, &record);
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
        job: Job,
        log: &mut Log,
    ) -> Result<(Outcome, usize), (OpError, usize)> {
        let node = job.action.node;
        let source = g
            .clone_from
            .as_ref()
            .and_then(|(src, _)| self.defs.guest(*src))
            .map(|s| (s, s.template_snapshot_name().to_string()));
        let ctx = GuestCtx {
            node,
            guest: g,
            defs: self.defs,
            source,
            timeout: self.opts.step_timeout,
        };
        let mut record = job.record;
        let mut steps_run = 0;
        let mut started = false;
        let mut rolled_back_to: Option<Step> = None;
        let no_snapshots = crate::defs::snapshot_blocker(self.defs, g).is_some();
        let exists = job.observed.is_some();
        let first_content = job.action.steps.iter().find(|s| **s != Step::Configure);

        // A changed feature rolls the guest back to the snapshot taken before it.
        if job.action.action == ActionKind::Resume
            && let Some(step) = first_content.filter(|s| s.feature().is_some())
            && let Some(snap) = step.pre_snapshot()
        {
            let idx = job
                .keys
                .chain
                .iter()
                .position(|k| k.step == *step)
                .unwrap_or(0);
            let was_run = record.steps.len() > idx;
            let have = job
                .observed
                .is_some_and(|o| o.snapshots.is_empty() || o.snapshots.contains(&snap));
            if was_run && have {
                self.timed(node, &format!("rollback:{snap}"), || {
                    self.backend.rollback(&ctx, &snap, log)
                })
                .map_err(|e| (e, steps_run))?;
                record.steps.truncate(idx);
                record.updated_at = now();
                self.record(node, &record);
                rolled_back_to = Some(step.clone());
                // Settings live in the config, which the snapshot copy replaced.
                self.backend
                    .configure(&ctx, log)
                    .map_err(|e| (e, steps_run))?;
            } else if was_run {
                return Err((
                    OpError::new(format!(
                        "no snapshot `{snap}` to roll back to; rebuild with --force {node}"
                    )),
                    steps_run,
                ));
            }
        }

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
            if !matches!(step, Step::Define | Step::Configure) && !started {
                self.timed(node, "start", || self.backend.start(&ctx, log))
                    .map_err(|e| (e, steps_run))?;
                started = true;
            }
            let r = match step {
                Step::Define => {
                    // Nothing recorded survives a re-creation.
                    record.steps.clear();
                    record.configure = None;
                    self.record(node, &record);
                    self.timed(node, &label, || {
                        if exists {
                            let _storage = self.storage_permit(g);
                            self.backend.destroy(&ctx, log)?;
                        }
                        let _clone = ctx
                            .source
                            .as_ref()
                            .map(|(s, _)| self.pools.source(s.id).acquire());
                        let _storage = self.storage_permit(g);
                        self.backend
                            .create(&ctx, &format!("building:{}", key.key), log)
                    })
                }
                Step::Configure => self.timed(node, &label, || self.backend.configure(&ctx, log)),
                Step::Feature(feature) => {
                    // Where Proxmox cannot snapshot the guest there is no `pre-`
                    // snapshot; the planner rebuilds such a guest instead of
                    // rolling it back.
                    if rolled_back_to.as_ref() != Some(step) && !no_snapshots {
                        let snap = format!("pre-{feature}");
                        self.timed(node, &format!("snapshot:{snap}"), || {
                            self.backend.snapshot(&ctx, &snap, log)
                        })
                        .map_err(|e| (e, steps_run))?;
                    }
                    let rel = self.defs.feature_script(g.kind, feature);
                    let ca = g.bootstrap_ca_url.clone().unwrap_or_default();
                    let script =
                        scripts::guest_script(self.defs, g, &rel, vec![g.id.to_string(), ca]);
                    // An installed shell tool's container feature scripts
                    // (`bin/lxc_setup/`) run on the host and reach into the guest
                    // with `pct exec` themselves (reference §2.4).
                    if self.defs.layout == Layout::Legacy && g.kind == GuestKind::Ct {
                        let timeout = self.opts.step_timeout;
                        let dir = tempfile::Builder::new()
                            .prefix("phoenix-feature-")
                            .tempdir()
                            .map_err(|e| {
                                (
                                    OpError::new(format!("cannot make a scratch directory: {e}")),
                                    steps_run,
                                )
                            })?;
                        let script = scripts::on_host(self.defs, script, dir.path())
                            .map_err(|e| (e, steps_run))?;
                        self.timed(node, &label, || self.backend.host(&script, timeout, log))
                    } else {
                        self.timed(node, &label, || self.backend.exec(&ctx, &script, log))
                    }
                }
                Step::App => self.timed(node, &label, || {
                    if let Some(app) = &g.application_script {
                        let script = scripts::guest_script(
                            self.defs,
                            g,
                            &self.defs.layout.app(app),
                            vec![g.id.to_string()],
                        );
                        self.backend.exec(&ctx, &script, log)?;
                    }
                    for h in &g.health_checks {
                        log.note(&format!("health check `{}`", h.name));
                        let script = scripts::guest_script(
                            self.defs,
                            g,
                            &self.defs.layout.health(&h.script),
                            h.args.clone(),
                        );
                        self.backend.exec(&ctx, &script, log).map_err(|e| OpError {
                            message: format!("health check `{}` failed: {}", h.name, e.message),
                            retryable: false,
                        })?;
                    }
                    Ok(())
                }),
                Step::Snapshot | Step::Template => {
                    let name = g.template_snapshot_name();
                    self.timed(node, &label, || self.backend.snapshot(&ctx, name, log))
                }
                Step::Run => Err(OpError::new(format!("a guest has no step `{step}`"))),
            };
            r.map_err(|e| (e, steps_run))?;
            steps_run += 1;
            let rec = step_record(key);
            if *step == Step::Configure {
                record.configure = Some(rec);
            } else if let Some(i) = chain_idx {
                record.steps.truncate(i);
                record.steps.push(rec);
            }
            record.updated_at = now();
            self.record(node, &record);
        }
        if !started && job.action.action != ActionKind::Update {
            self.timed(node, "start", || self.backend.start(&ctx, log))
                .map_err(|e| (e, steps_run))?;
        }
        // A snapshot template is done once its snapshot is taken: its clones start
        // from the snapshot, so the template itself need not (and, holding a 72 GB
        // model, must not) keep running.
        if matches!(g.template, TemplateModel::Snapshot { .. }) {
            self.timed(node, "stop", || self.backend.stop(&ctx, log))
                .map_err(|e| (e, steps_run))?;
        }
        self.backend
            .stamp(&ctx, &crate::inventory::built_stamp(job.keys), log)
            .map_err(|e| (e, steps_run))?;
        let outcome = if job.action.action == ActionKind::Update {
            Outcome::Updated
        } else {
            Outcome::Built
        };
        Ok((outcome, steps_run))
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

fn step_record(k: &StepKey) -> StepRecord {
    StepRecord {
        step: k.step.clone(),
        key: k.key.hex(),
        manifest: crate::state::RecordedManifest::new(&k.manifest),
        finished_at: now(),
    }
}
