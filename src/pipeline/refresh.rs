//! Reading the host's live configs into the plan (`status --live`, `plan
//! --refresh`, `build --refresh`): the one inventory call the plan already made,
//! then one config read per managed guest, a few at a time; what changed outside
//! phoenix becomes part of the plan (`plan::drift`) unless the caller keeps it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{Assessed, Loaded};
use crate::backend::{Backend, CloneFrom, GuestCtx, Log};
use crate::graph::NodeId;
use crate::inventory::Stamp;
use crate::live::Observation;
use crate::plan::drift::{self, Drift, Expect};

/// How many guests' configs are read at the same time: enough to hide a remote
/// host's latency, few enough not to crowd its API.
pub const LIVE_READS: usize = 8;

/// How long one guest's read may take.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// What reading the live configs found.
#[derive(Debug, Default)]
pub struct Refreshed {
    /// Managed guests that changed outside phoenix, each with what changed.
    pub drifts: Vec<Drift>,
    /// Guests whose config could not be read, with why.
    pub unreadable: Vec<(NodeId, String)>,
}

/// Read `nodes`' live configs through `backend`, at most [`LIVE_READS`] at a
/// time; results in the order of `nodes`.
pub fn observe(
    loaded: &Loaded,
    nodes: &[NodeId],
    backend: &dyn Backend,
) -> Vec<(NodeId, Result<Observation, String>)> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Result<Observation, String>>>> = Mutex::new(vec![None; nodes.len()]);
    std::thread::scope(|scope| {
        for _ in 0..LIVE_READS.min(nodes.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&node) = nodes.get(i) else { break };
                    let result = read(loaded, node, backend);
                    if let Ok(mut out) = out.lock() {
                        out[i] = Some(result);
                    }
                }
            });
        }
    });
    let out = out.into_inner().unwrap_or_default();
    nodes
        .iter()
        .zip(out)
        .map(|(n, r)| (*n, r.unwrap_or_else(|| Err("not read".into()))))
        .collect()
}

fn read(loaded: &Loaded, node: NodeId, backend: &dyn Backend) -> Result<Observation, String> {
    let g = node
        .guest_id()
        .and_then(|id| loaded.defs.guest(id))
        .ok_or_else(|| format!("{node} is not defined"))?;
    let ctx = GuestCtx {
        node,
        guest: g,
        defs: &loaded.defs,
        source: CloneFrom::of(&loaded.defs, g),
        timeout: READ_TIMEOUT,
    };
    backend
        .observe(&ctx, &mut Log::sink())
        .map(Observation::redacted)
        .map_err(|e| e.message)
}

/// Read the live config of every managed guest of the plan (finished by phoenix:
/// stamped `built`) and find what changed outside phoenix; unless `keep_drift`,
/// make that part of the plan (see [`crate::plan::drift`]).
pub fn refresh(
    loaded: &Loaded,
    assessed: &mut Assessed,
    backend: &dyn Backend,
    keep_drift: bool,
) -> Refreshed {
    let managed: Vec<NodeId> = assessed
        .order
        .iter()
        .copied()
        .filter(|n| {
            n.guest_id().is_some()
                && assessed
                    .inventory
                    .get(n)
                    .is_some_and(|o| matches!(o.stamp, Stamp::Built(_)))
        })
        .collect();
    let mut found = Refreshed::default();
    for (node, result) in observe(loaded, &managed, backend) {
        let live = match result {
            Ok(live) => live,
            Err(why) => {
                found.unreadable.push((node, why));
                continue;
            }
        };
        let (Some(keys), Some(observed), Some(g)) = (
            assessed.keys.get(&node),
            assessed.inventory.get(&node),
            node.guest_id().and_then(|id| loaded.defs.guest(id)),
        ) else {
            continue;
        };
        let expect = Expect {
            runs: !g.template.is_template(),
            template_snapshot: g.template.snapshot_name(),
        };
        let record = assessed.recorded.records.get(&node.to_string());
        let items = drift::find(keys, record, observed, &live, expect);
        if !items.is_empty() {
            found.drifts.push(Drift { node, items });
        }
    }
    if !keep_drift {
        drift::apply(&mut assessed.plan, &found.drifts);
    }
    found
}
