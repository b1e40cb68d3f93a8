//! Computing the desired keys of a selection: manifests in parallel, then keys in
//! build order, because a clone's `define` key consumes its source's output key.

use std::collections::HashMap;

use rayon::prelude::*;

use super::hash::{NodeKeys, StepKey, step_key};
use super::{Manifest, ScriptHashes, canon};
use crate::defs::Definitions;
use crate::defs::host::lookup;
use crate::graph::NodeId;
use crate::step::Step;

/// Bumped when what a built-in host step does changes.
pub(super) const BUILTIN_HOST_REVISION: u32 = 1;

/// Keys of `nodes`, which must be in build order (a clone after its source) and
/// contain every clone source of the guests in it (a selection always does).
pub fn assess(
    defs: &Definitions,
    nodes: &[NodeId],
    scripts: &ScriptHashes,
) -> HashMap<NodeId, NodeKeys> {
    let globals: Vec<(String, String)> = defs
        .lxc_globals
        .iter()
        .map(|(k, v)| (format!("global {k}"), canon::canonical(k, v)))
        .collect();
    let host_driver = defs
        .host_steps
        .iter()
        .any(|s| s.name == "nvidia")
        .then(|| {
            lookup(&defs.host, "nvidia_driver.version").map(|v| canon::canonical("version", v))
        })
        .flatten();
    let ctx = Ctx {
        defs,
        scripts,
        globals,
        host_driver,
    };
    // Manifests are independent of each other and built in parallel; only the keys
    // chain through clone sources, so they are hashed afterwards in build order.
    // `map`, not `filter_map`: an indexed collect writes each result in its place,
    // where a filtered one is gathered in pieces and copied.
    let pending: Vec<Option<(NodeId, Result<NodeKeys, Pending>)>> = nodes
        .par_iter()
        .map(|&node| match node {
            NodeId::Host(name) => Some((node, Ok(ctx.host(name)))),
            NodeId::Ct(id) | NodeId::Vm(id) => defs.guest(id).map(|g| (node, Err(ctx.guest(g)))),
        })
        .collect();
    let mut out: HashMap<NodeId, NodeKeys> = HashMap::with_capacity(nodes.len());
    for (node, p) in pending.into_iter().flatten() {
        let keys = match p {
            Ok(keys) => keys,
            Err(pending) => pending.finish(&out),
        };
        out.insert(node, keys);
    }
    out
}

/// A guest's manifests before its keys are computed.
pub(super) struct Pending {
    pub(super) chain: Vec<(Step, Manifest)>,
    pub(super) source: Option<NodeId>,
    pub(super) configure: StepKey,
}

impl Pending {
    /// Add the clone source's output key to the `define` step, then chain the keys.
    fn finish(mut self, done: &HashMap<NodeId, NodeKeys>) -> NodeKeys {
        if let (Some(sid), Some((_, define))) = (self.source, self.chain.first_mut()) {
            let skey = done.get(&sid).map_or_else(
                || "\"unknown\"".to_string(),
                |k| format!("\"{}\"", k.output()),
            );
            define.insert(format!("clone source {sid}"), skey);
        }
        let mut chain: Vec<StepKey> = Vec::with_capacity(self.chain.len());
        for (step, manifest) in self.chain {
            let key = step_key(&step, &manifest, chain.last().map(|s| s.key));
            chain.push(StepKey {
                step,
                key,
                manifest,
            });
        }
        NodeKeys {
            chain,
            configure: Some(self.configure),
        }
    }
}

/// What every manifest of one assessment reads, resolved once.
pub(super) struct Ctx<'a> {
    pub(super) defs: &'a Definitions,
    pub(super) scripts: &'a ScriptHashes,
    /// `global <key>` entries of every feature step: the LXC file's root keys.
    pub(super) globals: Vec<(String, String)>,
    /// The host's driver version, for guests with the `nvidia` feature.
    pub(super) host_driver: Option<String>,
}
