//! Where a guest is brought back to before, and after, its steps: the rollback of
//! a resumed guest to the `pre-` snapshot of the feature it starts at, and the
//! stamp that says it is built.

use super::{Job, Worker, now};
use crate::backend::{GuestCtx, Log, OpError};
use crate::state::NodeRecord;
use crate::step::Step;

impl Worker<'_> {
    /// The last step: `built:<output key>` (and its proof) on the guest. What it
    /// stands for is recorded, durably, first, so no guest is stamped built with
    /// keys the state directory does not hold. A stamp that fails (or a build
    /// stopped before it) leaves the guest stamped `building` under a complete
    /// record: the next build writes the stamp again, and nothing else. The stamp
    /// is retried like any step on a lock error.
    pub(super) fn stamp(
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
    pub(super) fn rewind(
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
}
