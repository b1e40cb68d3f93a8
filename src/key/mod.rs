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

pub mod canon;
mod scripts;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use rayon::prelude::*;
use serde_json::Value;

pub use scripts::ScriptHashes;

use crate::defs::fields::{self, Class};
use crate::defs::host::{GuestInputs, lookup};

/// Bumped when what a built-in host step does changes.
const BUILTIN_HOST_REVISION: u32 = 1;
use crate::defs::{Definitions, Guest, GuestKind};
use crate::graph::NodeId;

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
    pub step: String,
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

pub fn step_key(step: &str, manifest: &Manifest, previous: Option<Key>) -> Key {
    let mut h = blake3::Hasher::new_derive_key(DOMAIN);
    let mut put = |s: &str| {
        h.update(&(s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    put(step);
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
    chain: Vec<(String, Manifest)>,
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

impl Ctx<'_> {
    fn host(&self, name: &'static str) -> NodeKeys {
        let mut m = Manifest::new();
        if let Some(spec) = crate::defs::host::spec(name) {
            match self.defs.host_script(spec) {
                Some(script) => {
                    let hash = self.scripts.get(self.defs, &script);
                    m.insert(format!("script {script}"), hash);
                }
                // What phoenix does for a built-in step is part of its key: a change
                // to it re-runs the step once.
                None => {
                    m.insert(
                        format!("builtin {name}"),
                        format!("\"revision {BUILTIN_HOST_REVISION}\""),
                    );
                }
            }
            for section in spec.sections {
                if let Some(v) = lookup(&self.defs.host, section) {
                    m.insert(format!("section {section}"), canon::canonical(section, v));
                }
            }
            for g in self.defs.guests.values() {
                match spec.guest_inputs {
                    GuestInputs::None => {}
                    GuestInputs::Firewall => {
                        if let Some(fw) = g.raw.get("firewall") {
                            m.insert(
                                format!("guest {} firewall", g.label()),
                                canon::canonical("firewall", fw),
                            );
                        }
                    }
                    GuestInputs::Dns => {
                        let addr = g.address.as_deref().unwrap_or("dhcp");
                        m.insert(
                            format!("guest {} name", g.label()),
                            format!("\"{} {addr}\"", g.name),
                        );
                    }
                }
            }
        }
        let key = step_key("run", &m, None);
        NodeKeys {
            chain: vec![StepKey {
                step: "run".into(),
                key,
                manifest: m,
            }],
            configure: None,
        }
    }

    /// Every manifest of a guest's steps, except the clone source's output key, which
    /// needs the source's keys first (see [`Pending::finish`]).
    fn guest(&self, g: &Guest) -> Pending {
        let classify = match g.kind {
            GuestKind::Ct => fields::classify_ct,
            GuestKind::Vm => fields::classify_vm,
        };
        let mut define = Manifest::new();
        let mut configure = Manifest::new();
        let mut app = Manifest::new();
        let mut snapshot = Manifest::new();
        let mut feature_fields = Manifest::new();
        define.insert("kind".into(), format!("\"{}\"", g.kind.prefix()));
        let mut source_node = None;
        for (field, value) in &g.raw {
            if value.is_null() {
                continue;
            }
            let target = match classify(field) {
                Class::Define => &mut define,
                Class::Configure => &mut configure,
                Class::Feature => &mut feature_fields,
                Class::Snapshot => &mut snapshot,
                Class::App => &mut app,
                Class::Structural => continue,
            };
            target.insert(field.clone(), canon::canonical(field, value));
        }
        if let Some((src, _)) = &g.clone_from
            && let Some(source) = self.defs.guest(*src)
        {
            source_node = Some(NodeId::guest(source.kind, source.id));
            if let Some(snap) = &source.template_snapshot {
                define.insert(
                    "clone snapshot".into(),
                    canon::canonical("snapshot", &Value::String(snap.clone())),
                );
            }
        }
        if g.kind == GuestKind::Vm {
            if let Some(v) = self.defs.vm_defaults.get("storage_pool") {
                define.insert("storage".into(), canon::canonical("storage_pool", v));
            }
            if g.is_template
                && let Some(v) = self.defs.vm_defaults.get("ubuntu_release")
            {
                define.insert(
                    "ubuntu_release".into(),
                    canon::canonical("ubuntu_release", v),
                );
            }
            // A template without its own disk size gets the default one.
            if g.is_template
                && !define.contains_key("disk_size_gb")
                && let Some(v) = self.defs.vm_defaults.get("disk_size_gb")
            {
                define.insert("disk_size_gb".into(), canon::canonical("disk_size_gb", v));
            }
            for field in ["cores", "memory_mb"] {
                if !configure.contains_key(field)
                    && let Some(v) = self.defs.vm_defaults.get(field)
                {
                    configure.insert(field.into(), canon::canonical(field, v));
                }
            }
        }

        let mut chain: Vec<(String, Manifest)> = Vec::with_capacity(g.features.len() + 3);
        let push = |chain: &mut Vec<(String, Manifest)>, step: String, manifest: Manifest| {
            chain.push((step, manifest));
        };
        push(&mut chain, "define".into(), define);
        for feature in &g.features {
            let mut m = feature_fields.clone();
            let script = self.defs.feature_script(g.kind, feature);
            m.insert(
                format!("script {script}"),
                self.scripts.get(self.defs, &script),
            );
            if g.kind == GuestKind::Ct {
                m.extend(self.globals.iter().cloned());
            }
            if feature == "nvidia"
                && let Some(v) = &self.host_driver
            {
                m.insert("host nvidia_driver.version".into(), v.clone());
            }
            push(&mut chain, format!("feature:{feature}"), m);
        }
        if g.application_script.is_some() || !g.health_checks.is_empty() {
            if let Some(s) = &g.application_script {
                let script = self.defs.layout.app(s);
                app.insert(
                    format!("script {script}"),
                    self.scripts.get(self.defs, &script),
                );
            }
            for h in &g.health_checks {
                let script = self.defs.layout.health(&h.script);
                let args = Value::Array(h.args.iter().cloned().map(Value::String).collect());
                app.insert(
                    format!("health {}", h.name),
                    format!(
                        "{} {}",
                        self.scripts.get(self.defs, &script),
                        canon::canonical("args", &args)
                    ),
                );
            }
            push(&mut chain, "app".into(), app);
        }
        match g.kind {
            GuestKind::Ct if g.template_snapshot.is_some() => {
                push(&mut chain, "snapshot".into(), snapshot);
            }
            GuestKind::Vm if g.is_template => push(&mut chain, "template".into(), snapshot),
            _ => {}
        }
        let key = step_key("configure", &configure, None);
        Pending {
            chain,
            source: source_node,
            configure: StepKey {
                step: "configure".into(),
                key,
                manifest: configure,
            },
        }
    }
}
