//! Manifests of a guest's steps.
//!
//! Definition fields enter as written (canonical JSON of the guest's object, sorted
//! into steps by [`crate::defs::fields`]); what phoenix derives or resolves (the
//! clone snapshot, a VM's `vm_defaults` fallbacks, the template model) comes from the
//! typed values on the [`Guest`], so a default is resolved in one place, `defs`.

use serde_json::Value;

use super::assess::{Ctx, Pending};
use super::canon;
use super::draft::Draft;
use super::hash::step_key_of;
use crate::defs::fields::Class;
use crate::defs::{Guest, GuestKind, TemplateModel};
use crate::graph::NodeId;
use crate::step::Step;

/// The manifests of one guest's definition fields, one per step that consumes them.
struct FieldManifests<'a> {
    define: Draft<'a>,
    configure: Draft<'a>,
    feature: Draft<'a>,
    snapshot: Draft<'a>,
    app: Draft<'a>,
}

impl<'a> FieldManifests<'a> {
    /// Every field of the guest in the manifest of the step that consumes it:
    /// interpreted fields by their class, application fields in `app`, as `defs`
    /// wrote their canonical texts ([`crate::defs::written::FieldTexts`]).
    fn of(g: &'a Guest) -> FieldManifests<'a> {
        // Room for the usual guest at once: growing five buffers entry by entry
        // was a fifth of the time keys took.
        let room = || Draft::with_capacity(12);
        let mut m = FieldManifests {
            define: room(),
            configure: room(),
            feature: Draft::default(),
            snapshot: Draft::default(),
            app: Draft::default(),
        };
        for (class, field, text) in g.key_fields().iter() {
            let target = match class {
                Class::Define => &mut m.define,
                Class::Configure => &mut m.configure,
                Class::Feature => &mut m.feature,
                Class::Snapshot => &mut m.snapshot,
                Class::App => &mut m.app,
                Class::Structural => continue,
            };
            target.insert(field, text);
        }
        m
    }
}

/// A feature's script as a manifest entry: `script <path>` and the script's hash.
pub(super) fn feature_script_entry(
    defs: &crate::defs::Definitions,
    scripts: &super::ScriptHashes,
    kind: GuestKind,
    feature: &str,
) -> (String, String) {
    let script = defs.feature_script(kind, feature);
    (format!("script {script}"), scripts.get(defs, &script))
}

pub(super) fn text(field: &str, s: &str) -> String {
    canon::canonical(field, &Value::String(s.to_string()))
}

fn number(field: &str, n: u64) -> String {
    canon::canonical(field, &Value::from(n))
}

impl<'c> Ctx<'c> {
    /// Every manifest of a guest's steps, except the clone source's output key, which
    /// needs the source's keys first (see [`Pending::finish`]).
    pub(super) fn guest<'a>(&'a self, g: &'a Guest) -> Pending<'a>
    where
        'c: 'a,
    {
        let FieldManifests {
            mut define,
            mut configure,
            feature: feature_fields,
            snapshot,
            mut app,
        } = FieldManifests::of(g);
        define.insert(
            "kind",
            match g.kind {
                GuestKind::Ct => "\"ct\"",
                GuestKind::Vm => "\"vm\"",
            },
        );
        let mut source_node = None;
        if let Some(source) = self.defs.clone_source(g) {
            source_node = Some(NodeId::guest(source.kind, source.id));
            if let Some(snap) = source.template.snapshot_name() {
                match self.clone_snapshots.get(&source.id) {
                    Some(t) => define.insert("clone snapshot", t.as_str()),
                    None => define.insert("clone snapshot", text("snapshot", snap)),
                }
            }
        }
        if let Some(storage) = &g.shape.template_storage {
            // `template_file` is written as a file name; the storage it is found
            // on comes from the hypervisor file.
            define.insert("template storage", text("template_file", storage));
        }
        if g.kind == GuestKind::Vm {
            vm_defaults(g, &mut define, &mut configure);
        }

        let mut chain: Vec<(Step, Draft)> = Vec::with_capacity(g.features.len() + 3);
        chain.push((Step::Define, define));
        for feature in &g.features {
            let mut m = feature_fields.clone();
            // Made once per assessment for every guest it covers (see `assess`).
            if let Some((entry, hash)) = self.feature_scripts.get(&(g.kind, feature.as_str())) {
                m.insert(entry.as_str(), hash.as_str());
            } else {
                let (entry, hash) = feature_script_entry(self.defs, self.scripts, g.kind, feature);
                m.insert(entry, hash);
            }
            if g.kind == GuestKind::Ct {
                m.extend(self.globals.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            }
            if feature == "nvidia"
                && let Some(v) = &self.host_driver
            {
                m.insert("host nvidia_driver.version", v.as_str());
            }
            chain.push((Step::Feature(feature.clone()), m));
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
            chain.push((Step::App, app));
        }
        match g.template {
            TemplateModel::Snapshot { .. } => chain.push((Step::Snapshot, snapshot)),
            TemplateModel::Converted => chain.push((Step::Template, snapshot)),
            TemplateModel::None => {}
        }
        let configure = configure.sorted();
        let key = step_key_of(&Step::Configure, configure.iter(), None);
        Pending {
            chain,
            source: source_node,
            configure: (key, configure),
        }
    }
}

/// A VM's values that `defs` resolved from `vm_defaults`: its storage, and for a
/// template the Ubuntu release; a default disk size, cores and memory where the VM
/// sets none of its own (its own are in the manifests already, as written).
fn vm_defaults(g: &Guest, define: &mut Draft, configure: &mut Draft) {
    if let Some(pool) = &g.shape.storage_pool {
        define.insert("storage", text("storage_pool", pool));
    }
    if let Some(release) = &g.shape.ubuntu_release {
        define.insert("ubuntu_release", text("ubuntu_release", release));
    }
    if !define.contains_key("disk_size_gb")
        && let Some(gb) = g.settings.disk_gb
    {
        define.insert("disk_size_gb", number("disk_size_gb", gb));
    }
    for (field, value) in [
        ("cores", g.settings.cores),
        ("memory_mb", g.settings.memory_mb),
    ] {
        if !configure.contains_key(field)
            && let Some(v) = value
        {
            configure.insert(field, number(field, v));
        }
    }
}
