//! A guest's steps in order, from `define` to the stamp (see the parent module),
//! and the linked clones a converted template takes with it when it is made again.

use super::{Job, Worker, now, step_record};
use crate::backend::{CloneFrom, GuestCtx, Log, OpError, OpResult};
use crate::defs::{Guest, GuestKind, TemplateModel};
use crate::exec::events::Outcome;
use crate::graph::NodeId;
use crate::plan::ActionKind;
use crate::state::NodeRecord;
use crate::step::{FINAL_FORM, PRE_CONFIGURED, Step};

impl Worker<'_> {
    pub(super) fn guest(
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
            // A container template is converted as it stands; a VM template starts
            // first, to be generalised (cloud-init and machine-id cleaned) before
            // `qm template`.
            let converts_stopped = *step == Step::Template && g.kind == GuestKind::Ct;
            if !matches!(step, Step::Define | Step::Configure) && !converts_stopped && !started {
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
                        let snap = crate::step::pre_snapshot_of(feature);
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
        if !started && (job.action.action != ActionKind::Update || job.action.start) && !converted {
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
    pub(super) fn destroy_linked(
        &self,
        template: &GuestCtx,
        clones: &[NodeId],
        log: &mut Log,
    ) -> OpResult {
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
}
