//! Computing the desired keys of a selection, in parallel.
//!
//! A clone's `define` key consumes its source's output key, so keys cannot all be
//! computed at once: they are computed in waves, by clone depth (a guest that is
//! no clone, or whose source is not selected, is in wave 0; a clone is one wave
//! after its source). Inside a wave every node is independent, and the nodes are
//! shared out over the cores; there are as many waves as the longest template
//! chain is long (four or five in practice), whatever the number of guests.
//!
//! Manifests. Every key is the hash of its manifest's entries, gathered as a
//! draft (`draft`) of slices of the guest's field texts. A manifest is written out
//! only where something will read it ([`assess_keeping`]): a plan reads a step's
//! manifest only to say what changed against a recorded one, so a step with no
//! record, or recorded with the same key, needs none. At 10,000 guests keeping them
//! all is tens of megabytes of fresh memory, and writing them all only to drop
//! them was about a sixth of what computing keys cost.

use rayon::prelude::*;

use super::draft::{Draft, Sorted};
use super::hash::{Key, NodeKeys, StepKey, step_key_of};
use super::{Manifest, ScriptHashes, canon};
use crate::defs::host::lookup;
use crate::defs::{Definitions, Guest, GuestKind};
use crate::fasthash::{FastMap, FastSet};
use crate::graph::{NodeId, NodeMap};
use crate::step::Step;

/// Bumped when what a built-in host step does changes.
pub(super) const BUILTIN_HOST_REVISION: u32 = 1;

/// Which step of a node a key is for: a content step by its place in the chain, or
/// the settings step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAt {
    Chain(usize),
    Configure,
}

/// Keys of `nodes`, which must be in build order (a clone after its source) and
/// contain every clone source of the guests in it (a selection always does). Every
/// manifest is kept.
pub fn assess(defs: &Definitions, nodes: &[NodeId], scripts: &ScriptHashes) -> NodeMap<NodeKeys> {
    assess_keeping(defs, nodes, scripts, &|_, _, _| true)
}

/// [`assess`], keeping a step's manifest only where `keep(node, step, key)` says so;
/// the others are left empty. The keys are the same either way.
pub fn assess_keeping(
    defs: &Definitions,
    nodes: &[NodeId],
    scripts: &ScriptHashes,
    keep: &(dyn Fn(NodeId, StepAt, &Key) -> bool + Sync),
) -> NodeMap<NodeKeys> {
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
    let Survey {
        feature_scripts,
        clone_snapshots,
        sources,
        waves,
    } = survey(defs, nodes, scripts);
    let ctx = Ctx {
        defs,
        scripts,
        globals,
        host_driver,
        feature_scripts,
        clone_snapshots,
    };
    let mut out: NodeMap<NodeKeys> =
        NodeMap::with_capacity_and_hasher(nodes.len(), std::hash::BuildHasherDefault::default());
    // Each selected clone source's `clone source` entry, written once its wave is
    // done: 10,000 clones name a handful of sources, and each wrote the entry out
    // (its name and its key in hex) for itself.
    let mut source_entries: NodeMap<(String, String)> = NodeMap::default();
    // Each wave's keys go into `out` while the next wave's are computed: a
    // wave reads only the `clone source` entries of the waves before it, made
    // from their keys at once. (Put into `out` between the waves, on one core,
    // the keys of 10,000 guests in four waves kept the other core waiting.)
    let mut last: Vec<Option<(NodeId, NodeKeys)>> = Vec::new();
    for wave in waves {
        let entries = &source_entries;
        let (done, ()) = rayon::join(
            || -> Vec<Option<(NodeId, NodeKeys)>> {
                // `map`, not `filter_map`: an indexed collect writes each result
                // in its place, where a filtered one is gathered in pieces and
                // copied.
                wave.par_iter()
                    .map(|&(node, guest)| match node {
                        NodeId::Host(name) => Some((node, ctx.host(name))),
                        NodeId::Ct(_) | NodeId::Vm(_) => guest.map(|g| {
                            let keys = ctx.guest(g).finish(node, entries, keep);
                            (node, keys)
                        }),
                    })
                    .collect()
            },
            || out.extend(std::mem::take(&mut last).into_iter().flatten()),
        );
        for (&(node, _), keys) in wave.iter().zip(&done) {
            if sources.contains(&node) {
                let keys = keys.as_ref().map(|(_, k)| k);
                source_entries.insert(node, clone_source_entry(node, keys));
            }
        }
        last = done;
    }
    out.extend(last.into_iter().flatten());
    out
}

/// The `define` manifest's entry for a clone of `source`: its name, and the
/// source's output key (`keys`; `"unknown"` without them) as a JSON string.
fn clone_source_entry(source: NodeId, keys: Option<&NodeKeys>) -> (String, String) {
    let name = source.with_name(|source| {
        let mut name = String::with_capacity(13 + source.len());
        name.push_str("clone source ");
        name.push_str(source);
        name
    });
    let value = match keys {
        Some(k) => {
            let mut text = String::with_capacity(66);
            text.push('"');
            k.output().push_hex(&mut text);
            text.push('"');
            text
        }
        None => "\"unknown\"".to_string(),
    };
    (name, value)
}

/// What the keys of a selection need from all of it, found in one pass
/// ([`survey`]).
struct Survey<'a> {
    /// The manifest entry of each feature's script, made once: 10,000 guests name
    /// a handful of features.
    feature_scripts: FastMap<(GuestKind, &'a str), (String, String)>,
    /// A clone's `clone snapshot` entry: its source's snapshot name, written once
    /// per source (10,000 clones name a handful of templates).
    clone_snapshots: FastMap<u32, String>,
    /// Every guest some guest of the selection is cloned from.
    sources: FastSet<NodeId>,
    /// The nodes by clone depth, each with its guest: each wave's clone sources
    /// are in earlier waves.
    waves: Vec<Vec<(NodeId, Option<&'a Guest>)>>,
}

/// The [`Survey`] of `nodes`, in build order.
///
/// Each node's guest and clone source are looked up, and the guests' features
/// gathered, on every core: at 10,000 guests those look-ups, each a guest's
/// memory not touched since it was read, were 4 to 5 ms of one core while the
/// other waited. What is left for one core reads only what they found, and the
/// handful of clone sources. (As three passes, the features, the snapshots and
/// the waves, the look-ups were a sixth of computing 10,000 guests' keys.)
fn survey<'a>(defs: &'a Definitions, nodes: &[NodeId], scripts: &ScriptHashes) -> Survey<'a> {
    let found: Vec<(Option<&Guest>, Option<&Guest>)> = nodes
        .par_iter()
        .map(|&node| {
            let guest = node.guest_id().and_then(|id| defs.guest(id));
            (guest, guest.and_then(|g| defs.clone_source(g)))
        })
        .collect();
    let features: FastSet<(GuestKind, &str)> = found
        .par_iter()
        .fold(FastSet::default, |mut set, (guest, _)| {
            if let Some(g) = guest {
                set.extend(g.features.iter().map(|f| (g.kind, f.as_str())));
            }
            set
        })
        .reduce(FastSet::default, |mut a, b| {
            a.extend(b);
            a
        });
    let feature_scripts = features
        .into_iter()
        .map(|(kind, f)| {
            let entry = super::guest::feature_script_entry(defs, scripts, kind, f);
            ((kind, f), entry)
        })
        .collect();
    let mut clone_snapshots = FastMap::default();
    let mut sources = FastSet::default();
    for s in found.iter().filter_map(|(_, source)| *source) {
        if sources.insert(NodeId::guest(s.kind, s.id))
            && let Some(name) = s.template.snapshot_name()
        {
            clone_snapshots.insert(s.id, super::guest::text("snapshot", name));
        }
    }
    // The clone depth of each selected clone source: in build order a selected
    // source comes first, so its depth is known when its clones come.
    let mut depth: NodeMap<usize> = NodeMap::default();
    // Counted first, so that each wave is made at its size: grown push by push,
    // the big first wave was copied into fresh memory again and again.
    let mut sizes: Vec<usize> = Vec::new();
    let depths: Vec<usize> = nodes
        .iter()
        .zip(&found)
        .map(|(&node, (_, source))| {
            let d = source
                .and_then(|s| depth.get(&NodeId::guest(s.kind, s.id)))
                .map_or(0, |d| d + 1);
            if sources.contains(&node) {
                depth.insert(node, d);
            }
            if sizes.len() <= d {
                sizes.resize(d + 1, 0);
            }
            sizes[d] += 1;
            d
        })
        .collect();
    let mut waves: Vec<Vec<(NodeId, Option<&Guest>)>> =
        sizes.into_iter().map(Vec::with_capacity).collect();
    for ((&node, (guest, _)), d) in nodes.iter().zip(found).zip(depths) {
        waves[d].push((node, guest));
    }
    Survey {
        feature_scripts,
        clone_snapshots,
        sources,
        waves,
    }
}

/// A guest's manifests before its keys are computed.
pub(super) struct Pending<'a> {
    pub(super) chain: Vec<(Step, Draft<'a>)>,
    pub(super) source: Option<NodeId>,
    pub(super) configure: (Key, Sorted<'a>),
}

impl Pending<'_> {
    /// Add the clone source's output key to the `define` step, then chain the keys;
    /// keep the manifests `keep` asks for.
    ///
    /// `sources` holds the `clone source` entries of the sources done already
    /// ([`clone_source_entry`]): every selected source, as a source comes in a
    /// wave before its clones'. One not there is not selected, and has no keys.
    fn finish(
        self,
        node: NodeId,
        sources: &NodeMap<(String, String)>,
        keep: &(dyn Fn(NodeId, StepAt, &Key) -> bool + Sync),
    ) -> NodeKeys {
        // Moved out, so that its drafts may borrow from `sources` too.
        let mut steps: Vec<(Step, Draft<'_>)> = self.chain;
        if let (Some(sid), Some((_, define))) = (self.source, steps.first_mut()) {
            if let Some((name, value)) = sources.get(&sid) {
                define.insert(name.as_str(), value.as_str());
            } else {
                let (name, value) = clone_source_entry(sid, None);
                define.insert(name, value);
            }
        }
        // Written out only where `keep` asks for it.
        let kept = |at: StepAt, key: &Key, manifest: &Sorted| {
            if keep(node, at, key) {
                manifest.to_manifest()
            } else {
                Manifest::new()
            }
        };
        let mut chain: Vec<StepKey> = Vec::with_capacity(steps.len());
        for (i, (step, draft)) in steps.into_iter().enumerate() {
            let manifest = draft.sorted();
            let key = step_key_of(&step, manifest.iter(), chain.last().map(|s| s.key));
            chain.push(StepKey {
                step,
                key,
                manifest: kept(StepAt::Chain(i), &key, &manifest),
            });
        }
        let (key, manifest) = self.configure;
        NodeKeys {
            chain,
            configure: Some(StepKey {
                step: Step::Configure,
                key,
                manifest: kept(StepAt::Configure, &key, &manifest),
            }),
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
    /// Each feature's script entry (`script <path>`) and its hash, by the kind of
    /// guest and the feature's name.
    pub(super) feature_scripts: FastMap<(GuestKind, &'a str), (String, String)>,
    /// The `clone snapshot` entry of a clone of each source, by the source's ID.
    pub(super) clone_snapshots: FastMap<u32, String>,
}
