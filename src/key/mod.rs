//! Step keys and their input manifests.
//!
//! How it works: every step of a node gets a [`Manifest`], a sorted map from input
//! name to the input's canonical value, and its key is the blake3 hash of the step
//! kind, that manifest and (for content steps) the previous step's key. The manifest
//! is stored beside the key in the state directory, so "why is it stale" is a diff of
//! two manifests, never a guess.
//!
//! What enters each step (fields as classified in [`crate::defs::fields`]):
//!
//! | step | inputs |
//! |---|---|
//! | `define` (ct) | `kind`, define fields (`template`, `clone_from_ctid`, `unprivileged`, `storage_pool`, `id_maps`); for a clone: `clone source ct:N` = the source's output key and `clone snapshot` = its `template_snapshot_name` |
//! | `define` (vm) | `kind`, VM define fields, `storage` (`vm_defaults.storage_pool`), `ubuntu_release` and (without their own) `vm_defaults.disk_size_gb` for templates, clone source key |
//! | `configure` | the settings fields; VMs use `vm_defaults` for missing cores and memory. Not chained: settings never make content stale |
//! | `feature:NAME` | `script <path>` = blake3 of the script's bytes, `global <key>` for each root key of the LXC file, `bootstrap_ca_url`, and for `nvidia` the host's `nvidia_driver.version` |
//! | `app` | `script <path>`, `health <name>` (script hash and arguments), and every application field: everything phoenix does not interpret, unknown fields included |
//! | `snapshot` (ct) / `template` (vm) | snapshot name, lifecycle flag |
//! | host `run` | `script <path>` (built-in steps: `builtin <name>`, the revision of what phoenix does), `section <path>` per section it reads, and `guest <id>` entries for the firewall and DNS steps |
//!
//! `dependencies` enter no key: they order the build and nothing else. Secrets
//! (`*password*`, `*token*`, `*secret*`) enter as a fingerprint, never as text.
//!
//! Where inputs come from. A definition field enters as written: the canonical JSON
//! of the guest's own value ([`canon`]), sorted into steps by the field
//! classification. That is deliberate, not a leftover: the typed values on a
//! [`crate::defs::Guest`] hold what phoenix *acts on* and drop the rest (a rule's
//! extra keys, a mount's `name`, a malformed-but-diagnosed value), while a key must
//! change whenever the definition does, and must not change when phoenix's types do.
//! Hashing the typed values would make every new typed field a key revision.
//! Everything phoenix *derives* comes from the typed values instead: the clone
//! snapshot ([`crate::defs::TemplateModel`]), a VM's `vm_defaults` fallbacks (storage,
//! Ubuntu release, disk size, cores, memory, resolved once in `defs`), the DNS
//! address, and the application fields ([`crate::defs::Guest::app_fields`]). No
//! default is applied here.

pub mod canon;
mod guest;
mod host;
mod scripts;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use rayon::prelude::*;

pub use scripts::ScriptHashes;

use crate::defs::Definitions;
use crate::defs::host::lookup;
use crate::graph::NodeId;
use crate::step::Step;

/// Bumped when what a built-in host step does changes.
const BUILTIN_HOST_REVISION: u32 = 1;

/// A step key: blake3 of the step kind, its manifest and the previous key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub [u8; 32]);

impl Key {
    pub fn hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.short())
    }
}

/// Input name → canonical value. Sorted, so hashing and diffing are stable.
pub type Manifest = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepKey {
    /// `define`, `configure`, `feature:base_setup`, `app`, `snapshot`, `template`, `run`.
    pub step: Step,
    pub key: Key,
    pub manifest: Manifest,
}

/// The desired keys of one node.
#[derive(Debug, Clone)]
pub struct NodeKeys {
    /// Content steps in execution order; each key chains the one before.
    pub chain: Vec<StepKey>,
    /// The settings step, beside the chain.
    pub configure: Option<StepKey>,
}

impl NodeKeys {
    /// The key of the last content step: what clones consume and what is stamped on the guest.
    pub fn output(&self) -> Key {
        self.chain.last().map_or(Key([0; 32]), |s| s.key)
    }
}

const DOMAIN: &str = "phoenix step key 2026-11 v1";

pub fn step_key(step: &Step, manifest: &Manifest, previous: Option<Key>) -> Key {
    let mut h = blake3::Hasher::new_derive_key(DOMAIN);
    let mut put = |s: &str| {
        h.update(&(s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    put(&step.to_string());
    for (k, v) in manifest {
        put(k);
        put(v);
    }
    h.update(&previous.map_or([0; 32], |k| k.0));
    Key(*h.finalize().as_bytes())
}

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
    let pending: Vec<(NodeId, Result<NodeKeys, Pending>)> = nodes
        .par_iter()
        .filter_map(|&node| match node {
            NodeId::Host(name) => Some((node, Ok(ctx.host(name)))),
            NodeId::Ct(id) | NodeId::Vm(id) => defs.guest(id).map(|g| (node, Err(ctx.guest(g)))),
        })
        .collect();
    let mut out: HashMap<NodeId, NodeKeys> = HashMap::with_capacity(nodes.len());
    for (node, p) in pending {
        let keys = match p {
            Ok(keys) => keys,
            Err(pending) => pending.finish(&out),
        };
        out.insert(node, keys);
    }
    out
}

/// A guest's manifests before its keys are computed.
struct Pending {
    chain: Vec<(Step, Manifest)>,
    source: Option<NodeId>,
    configure: StepKey,
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

struct Ctx<'a> {
    defs: &'a Definitions,
    scripts: &'a ScriptHashes,
    globals: Vec<(String, String)>,
    host_driver: Option<String>,
}
