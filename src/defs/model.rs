//! The definitions model: [`Definitions`] of one directory and its [`Guest`]s.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::guests::Guests;
use super::host::HostStepSpec;
use super::idmap::IdMap;
use super::layout::Layout;
use super::settings::{Devices, Firewall, Mounts, Network, Settings, Shape, TemplateModel};
use super::written::{FieldTexts, Written};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    Ct,
    Vm,
}

impl GuestKind {
    pub fn prefix(self) -> &'static str {
        match self {
            GuestKind::Ct => "ct",
            GuestKind::Vm => "vm",
        }
    }
}

/// When a guest's fields' canonical texts, which only the keys read, are written
/// ([`Guest::key_fields`]).
///
/// Why not always as the guest is read. Writing them was a tenth of reading the
/// guests (54M of `validate`'s 446M instructions at 10,000 guests), and `validate`
/// and a graph without states compute no key. Written later, each guest is
/// parsed again from its text: the same texts, at twice the cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTexts {
    /// While the guest is read, from the values at hand: for commands that
    /// compute keys (`plan`, `build`, `status`, ...).
    Now,
    /// When first asked for: for commands that compute none.
    WhenAsked,
}

/// One health check of a guest: `health/<script> <args...>` run after the app script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub name: String,
    pub script: String,
    pub args: Vec<String>,
}

/// A container or VM as defined, with the fields phoenix interprets already typed
/// and their defaults resolved.
///
/// Read the typed fields ([`Guest::shape`], [`Guest::settings`], [`Guest::net`],
/// [`Guest::mounts`], [`Guest::devices`], [`Guest::firewall`], [`Guest::template`]),
/// and [`Guest::app_fields`] for what phoenix does not interpret.
#[derive(Debug, Clone)]
pub struct Guest {
    pub kind: GuestKind,
    pub id: u32,
    pub name: String,
    /// The definition file, relative to the definitions directory.
    pub file: String,
    /// JSON path of the guest's object in that file (`lxc_configs.950`, `vms[1]`).
    pub path: String,
    /// The guest's whole JSON object as written, unknown fields included: what a
    /// script receives (`$PHOENIX_GUEST_JSON`, see [`Guest::definition`]). It is
    /// read whole; for a value, read the typed fields below (`tests/it/layers.rs`
    /// holds the rest of the code to that).
    pub written: Written,
    /// What the content keys hash of the definition: each field's canonical JSON,
    /// with the step class that consumes it ([`Guest::key_fields`]).
    pub(crate) key_fields: OnceLock<FieldTexts>,
    /// Whether a field that goes into commands holds a control character (the
    /// check that reports it reads the object again).
    pub(crate) control_characters: bool,
    /// The application fields: every field phoenix does not interpret (unknown ones
    /// included), as written. They feed the application script and the `app` key.
    pub app_fields: Map<String, Value>,
    /// Clone source and the JSON path that names it.
    pub clone_from: Option<(u32, String)>,
    /// Guests this one waits for, each with its place in `dependencies` (see
    /// [`Guest::dependency_path`]).
    pub dependencies: Vec<(u32, usize)>,
    pub features: Vec<String>,
    /// `bootstrap_ca_url`: the second argument of every feature script.
    pub bootstrap_ca_url: Option<String>,
    pub application_script: Option<String>,
    pub health_checks: Vec<HealthCheck>,
    /// `enable_lifecycle_snapshots` (absent: false).
    pub lifecycle_snapshots: bool,
    /// Whether and how this guest is a template for clones.
    pub template: TemplateModel,
    /// What the guest is made from; changing it replaces the guest.
    pub shape: Shape,
    /// Settings applied in place.
    pub settings: Settings,
    pub net: Network,
    /// A container's second interface (`secondary_network_config`), as `net1`.
    /// Boxed, as few guests have one: every guest is held in memory at once.
    pub net1: Option<Box<Network>>,
    pub mounts: Mounts,
    pub devices: Devices,
    pub firewall: Firewall,
    /// `node`: the Proxmox node the guest is pinned to (api backend). Not in any
    /// key: changing it moves the guest, it does not make it again.
    pub node: Option<String>,
}

impl Guest {
    pub fn label(&self) -> String {
        format!("{}:{}", self.kind.prefix(), self.id)
    }

    /// The guest's whole JSON object, parsed from its text.
    pub fn definition(&self) -> Map<String, Value> {
        self.written.parse()
    }

    /// The JSON path of the `i`th entry of the guest's `dependencies`.
    pub fn dependency_path(&self, i: usize) -> String {
        format!("{}.dependencies[{i}]", self.path)
    }

    /// The snapshot a template's clones start from and its last step takes: its
    /// `template_snapshot_name`, or `template` for a converted template.
    pub fn template_snapshot_name(&self) -> &str {
        self.template.snapshot_name().unwrap_or("template")
    }

    /// The container's effective user and group id map, the one every consumer
    /// uses (see [`IdMap`]: raw `lxc.idmap` lines, else `id_maps` with the holes
    /// filled, else Proxmox's default, else none). A VM has none.
    pub fn id_map(&self) -> IdMap {
        if self.kind != GuestKind::Ct {
            return IdMap::none();
        }
        IdMap::effective(
            self.shape.unprivileged,
            &self.shape.id_maps,
            &self.settings.lxc_options,
        )
    }

    /// What the content keys hash of the definition: each field's canonical JSON,
    /// with the step class that consumes it. Written as the guest was read when
    /// the command computes keys ([`KeyTexts::Now`]); otherwise here, from the
    /// guest's text, the first time something asks.
    pub fn key_fields(&self) -> &FieldTexts {
        // Out of line: the keys read this for every guest, nearly always written.
        #[cold]
        #[inline(never)]
        fn written_now(g: &Guest) -> FieldTexts {
            FieldTexts::of_written(g.kind, &g.written)
        }
        self.key_fields.get_or_init(|| written_now(self))
    }

    /// A guest with nothing read yet: the readers fill it in.
    pub(crate) fn empty(kind: GuestKind, id: u32, file: &str, path: &str) -> Guest {
        Guest {
            kind,
            id,
            name: String::new(),
            file: file.to_string(),
            path: path.to_string(),
            written: Written::default(),
            key_fields: OnceLock::new(),
            control_characters: false,
            app_fields: Map::new(),
            clone_from: None,
            dependencies: Vec::new(),
            features: Vec::new(),
            bootstrap_ca_url: None,
            application_script: None,
            health_checks: Vec::new(),
            lifecycle_snapshots: false,
            template: TemplateModel::None,
            shape: Shape::default(),
            settings: Settings::default(),
            net: Network::default(),
            net1: None,
            mounts: Mounts::default(),
            devices: Devices::default(),
            firewall: Firewall::default(),
            node: None,
        }
    }
}

/// Everything read from one definitions directory.
#[derive(Debug, Clone)]
pub struct Definitions {
    pub dir: PathBuf,
    pub layout: Layout,
    pub hypervisor_file: String,
    pub lxc_file: String,
    pub vm_file: String,
    /// The hypervisor file's top-level object.
    pub host: Map<String, Value>,
    /// Root keys of the LXC file other than `lxc_configs` (e.g. `nvidia_driver_version`).
    pub lxc_globals: Map<String, Value>,
    /// The hypervisor file's `vm_defaults`, then the VM file's for keys it lacks.
    /// Already applied to every VM (its [`Settings`], [`Shape`], [`Network`]);
    /// kept for display.
    pub vm_defaults: Map<String, Value>,
    /// Guests by ID. Containers and VMs share one ID space.
    pub guests: Guests,
    /// Host steps configured in the hypervisor file, in catalogue order.
    pub host_steps: Vec<&'static HostStepSpec>,
}

impl Definitions {
    pub fn guest(&self, id: u32) -> Option<&Guest> {
        self.guests.get(&id)
    }

    /// The guest `g` is cloned from, when it is one of these definitions.
    pub fn clone_source(&self, g: &Guest) -> Option<&Guest> {
        self.guest(g.clone_from.as_ref()?.0)
    }

    /// Absolute path of a script named relative to the definitions directory.
    pub fn path_of(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn feature_script(&self, kind: GuestKind, feature: &str) -> String {
        match kind {
            GuestKind::Ct => self.layout.lxc_feature(feature),
            GuestKind::Vm => self.layout.vm_feature(feature),
        }
    }

    /// The script of a host step; built-in steps have none.
    pub fn host_script(&self, spec: &HostStepSpec) -> Option<String> {
        (!spec.builtin).then(|| self.layout.host_step(spec.name, spec.legacy_script))
    }
}
