//! Which definition fields phoenix interprets, and which step consumes each.
//!
//! This table is the reference's §1.5 classification turned into code. Every field of a
//! guest lands in exactly one place:
//!
//! * **define** (shape): changing it means destroying and re-creating the guest;
//! * **configure** (settings): applied in place (`pct set`), never makes content stale;
//! * **snapshot**: snapshot naming and lifecycle;
//! * **order**: graph edges only (`dependencies`), no key;
//! * **app**: everything else, including fields phoenix has never heard of. Those feed
//!   the application script, so they are inputs of the `app` step.
//!
//! A guest's own application settings go in one object, `app_settings` ([`APP_SETTINGS`]):
//! app-class like any unknown field (it reaches the application script in the guest
//! JSON and is an input of the `app` step), but known, so `validate` does not warn.
//!
//! `features`, `application_script` and `health_checks` name scripts; the steps that
//! run them consume the scripts' bytes (see `key`). Two fields of the oldest era are
//! classified by their value or under another name ([`key_entry`]): `features` written
//! as a Proxmox feature string is a setting, and `clone_from_template_ctid` is
//! `clone_from_ctid` (see `eras`).

use std::sync::LazyLock;

use serde_json::Value;

use super::model::GuestKind;
use super::read::Fields;
use super::secrets::{self, Marks};

/// Container fields that decide what the guest *is*.
pub const CT_DEFINE: &[&str] = &[
    "template",
    "template_file",
    "clone_from_ctid",
    "clone_from_template_ctid",
    "unprivileged",
    "storage_pool",
    "id_maps",
];

/// Container fields applied in place.
pub const CT_CONFIGURE: &[&str] = &[
    "name",
    "memory_mb",
    "swap_mb",
    "cores",
    "network_config",
    "secondary_network_config",
    "mac_address",
    "start_at_boot",
    "boot_order",
    "boot_delay",
    "gpu_assignment",
    "pct_options",
    "lxc_options",
    "apparmor_profile",
    "apparmor_manages_nesting",
    "mount_points",
    "zfs_volumes",
    "volumes",
    "firewall",
    "storage_size_gb",
];

/// Fields every feature script of a container receives (the CA URL is its second argument).
pub const CT_FEATURE: &[&str] = &["bootstrap_ca_url"];

pub const CT_SNAPSHOT: &[&str] = &[
    "template_snapshot_name",
    "is_template",
    "enable_lifecycle_snapshots",
];

/// Fields with no key at all: edges, or the script lists handled step by step.
pub const CT_STRUCTURAL: &[&str] = &[
    // Where the guest lives (api backend): moving it is a migration, no step.
    "node",
    "dependencies",
    "features",
    "application_script",
    "health_checks",
];

/// The object that holds a guest's own application settings, whatever their names:
/// it reaches the application script (`$PHOENIX_GUEST_JSON`) and the `app` key, and
/// `validate` checks only that it is an object.
pub const APP_SETTINGS: &str = "app_settings";

/// Fields the shell tool knows that phoenix passes through to the application
/// script, and [`APP_SETTINGS`]. They are not warned about; anything outside all
/// these lists is.
pub const CT_APP_KNOWN: &[&str] = &[
    APP_SETTINGS,
    "vllm_engine_config",
    "portainer_role",
    "traefik_service",
    "trigger_sync_on_completion",
    "health_check",
    "tests",
    "ports",
    "dns_records",
    "$schema",
];

pub const VM_DEFINE: &[&str] = &[
    "is_template",
    "template_image",
    "template_image_url",
    "template_image_sha256",
    "template",
    "clone_from_vmid",
    "user_config",
    "disk_size_gb",
];

pub const VM_CONFIGURE: &[&str] = &[
    "name",
    "cores",
    "memory_mb",
    "start_at_boot",
    "boot_order",
    "boot_delay",
    "network_config",
    "firewall",
    "volumes",
];

pub const VM_SNAPSHOT: &[&str] = &["snapshots", "template_snapshot_name"];

pub const VM_STRUCTURAL: &[&str] = &[
    "vmid",
    "node",
    "dependencies",
    "features",
    "application_script",
    "health_checks",
];

pub const VM_APP_KNOWN: &[&str] = &[
    APP_SETTINGS,
    "docker_stacks",
    "portainer_role",
    "portainer_environment_name",
    "portainer_agent_hostname",
    "traefik_service",
    "dns_records",
    "trigger_sync_on_completion",
    "qm_options",
    "count",
    "storage_pool",
    "network_bridge",
];

/// Top-level keys of the hypervisor file (reference §1.4). Others are warned about.
pub const HOST_KNOWN: &[&str] = &[
    "$schema",
    "version",
    "author",
    "domain_name",
    "users",
    "core_paths",
    "timezone",
    "network",
    "nfs",
    "samba",
    "zfs",
    "proxmox_storage_ids",
    "mount_point_base",
    "nvidia_driver",
    "shared_volumes",
    "firewall",
    "portainer_api",
    "vm_defaults",
    "dns_server",
    "step_ca",
    "docker",
    "proxmox_defaults",
    "tests",
    "behavior",
    "vms",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Define,
    Configure,
    Feature,
    Snapshot,
    Structural,
    App,
}

/// Where a container field goes; unknown fields go to the app step.
pub fn classify_ct(field: &str) -> Class {
    lookup(GuestKind::Ct, field).0
}

pub fn classify_vm(field: &str) -> Class {
    lookup(GuestKind::Vm, field).0
}

/// What the lists above say about one field name of a guest of some kind.
#[derive(Clone, Copy)]
struct Entry {
    class: Class,
    /// In a class, or a known application field: `validate` does not warn.
    known: bool,
    /// What the name says of its value ([`secrets::marks`]), read once with the
    /// table rather than for every guest's field.
    marks: Marks,
}

/// The lists of a kind as one table: every field of every guest is looked up
/// ([`field_entry`]), and a walk through the lists was a tenth of reading
/// 10,000 guests.
///
/// Open addressing over a fixed number of places: each name sits in the place
/// [`place`] gives it, or the first free one after. A hash map's lookup (its
/// hasher over the whole name, then a probe) cost 117 instructions a field, a
/// sixth of reading a guest's fields; a place is found from four bytes of the
/// name, and a name found by one comparison.
struct Table {
    places: Vec<Option<(&'static str, Entry)>>,
}

/// How many places a [`Table`] has: more than twice the names a kind has, so
/// most names are in their own place.
const PLACES: usize = 256;

impl Table {
    fn new() -> Table {
        Table {
            places: vec![None; PLACES],
        }
    }

    /// `name`'s entry, unless it has one already.
    fn add(&mut self, name: &'static str, entry: Entry) {
        let mut at = place(name);
        for _ in 0..PLACES {
            match &self.places[at] {
                None => {
                    self.places[at] = Some((name, entry));
                    return;
                }
                Some((n, _)) if *n == name => return,
                Some(_) => at = (at + 1) % PLACES,
            }
        }
        unreachable!("a kind has more field names than {PLACES}");
    }

    fn get(&self, name: &str) -> Option<Entry> {
        let mut at = place(name);
        for _ in 0..PLACES {
            match &self.places[at] {
                None => return None,
                Some((n, e)) if *n == name => return Some(*e),
                Some(_) => at = (at + 1) % PLACES,
            }
        }
        None
    }
}

/// The place of `name` in a [`Table`], from its length and its first, middle and
/// last bytes (names share prefixes and suffixes: `storage_pool`,
/// `storage_size_gb`, `*_mb`).
fn place(name: &str) -> usize {
    let b = name.as_bytes();
    let byte = |i: usize| u64::from(b.get(i).copied().unwrap_or(0));
    let h = (b.len() as u64)
        ^ (byte(0) << 8)
        ^ (byte(b.len() / 2) << 16)
        ^ (byte(b.len().saturating_sub(1)) << 24);
    // The top byte of the product: below `PLACES`.
    usize::try_from(h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56).unwrap_or(0)
}

fn table(lists: &[(&[&'static str], Class)], app_known: &[&'static str]) -> Table {
    let mut t = Table::new();
    // In the order of the lists: a name in two lists has the first one's class.
    for &(names, class) in lists {
        for &name in names {
            t.add(
                name,
                Entry {
                    class,
                    known: true,
                    marks: secrets::marks(name, false),
                },
            );
        }
    }
    for &name in app_known {
        t.add(
            name,
            Entry {
                class: Class::App,
                known: true,
                marks: secrets::marks(name, false),
            },
        );
    }
    t
}

/// Each kind's lists with their classes, in the order a name is looked for.
const CT_CLASSES: &[(&[&str], Class)] = &[
    (CT_DEFINE, Class::Define),
    (CT_CONFIGURE, Class::Configure),
    (CT_FEATURE, Class::Feature),
    (CT_SNAPSHOT, Class::Snapshot),
    (CT_STRUCTURAL, Class::Structural),
];

const VM_CLASSES: &[(&[&str], Class)] = &[
    (VM_DEFINE, Class::Define),
    (VM_CONFIGURE, Class::Configure),
    (VM_SNAPSHOT, Class::Snapshot),
    (VM_STRUCTURAL, Class::Structural),
];

/// Every field name a guest of `kind` is read for, in the order of the lists: what
/// a name phoenix does not know is compared with.
pub(crate) fn known_names(kind: GuestKind) -> Vec<&'static str> {
    let (classes, app) = match kind {
        GuestKind::Ct => (CT_CLASSES, CT_APP_KNOWN),
        GuestKind::Vm => (VM_CLASSES, VM_APP_KNOWN),
    };
    classes
        .iter()
        .flat_map(|(names, _)| names.iter().copied())
        .chain(app.iter().copied())
        .collect()
}

static CT_TABLE: LazyLock<Table> = LazyLock::new(|| table(CT_CLASSES, CT_APP_KNOWN));

static VM_TABLE: LazyLock<Table> = LazyLock::new(|| table(VM_CLASSES, VM_APP_KNOWN));

/// The table's entry of a name phoenix knows.
fn find(kind: GuestKind, field: &str) -> Option<Entry> {
    let t = match kind {
        GuestKind::Ct => &*CT_TABLE,
        GuestKind::Vm => &*VM_TABLE,
    };
    t.get(field)
}

/// The class of any name, and whether it is known: one phoenix does not know is
/// an application field.
fn lookup(kind: GuestKind, field: &str) -> (Class, bool) {
    find(kind, field).map_or((Class::App, false), |e| (e.class, e.known))
}

/// One field of a guest, from one look at its kind's table: what
/// [`key_entry`] says of it (the class of the step that consumes it, the name it
/// enters the keys under), whether `validate` knows it, and what that name says
/// of its value. Reading a guest asked the table about each field two or three
/// times, and read each name again for secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldEntry<'a> {
    pub class: Class,
    pub name: &'a str,
    pub known: bool,
    pub marks: Marks,
}

/// The [`FieldEntry`] of `field`, whose value is `value`, in a guest of `kind`.
/// Inlined into the loop over a guest's fields ([`entries`]): out of line, as
/// the compiler put it once `entries` had a second caller, the call cost 0.7%
/// of a plan.
#[allow(clippy::inline_always)]
#[inline(always)]
pub(crate) fn field_entry<'a>(kind: GuestKind, field: &'a str, value: &Value) -> FieldEntry<'a> {
    let found = find(kind, field);
    let marks_of = |name: &str, entry: Option<Entry>| {
        entry.map_or_else(|| secrets::marks(name, false), |e| e.marks)
    };
    let (class, name, marks) = match kind {
        GuestKind::Ct if field == "features" && super::eras::is_feature_string(value) => {
            (Class::Configure, field, marks_of(field, found))
        }
        GuestKind::Ct if field == super::eras::CLONE_ALIAS => {
            let modern = "clone_from_ctid";
            (Class::Define, modern, marks_of(modern, find(kind, modern)))
        }
        _ => (
            found.map_or(Class::App, |e| e.class),
            field,
            marks_of(field, found),
        ),
    };
    FieldEntry {
        class,
        name,
        known: found.is_some_and(|e| e.known),
        marks,
    }
}

/// The [`FieldEntry`] of each field of a guest of `kind` whose object is `raw`,
/// in its order.
pub(crate) fn entries<'v>(kind: GuestKind, raw: &Fields<'v>) -> Vec<FieldEntry<'v>> {
    raw.iter()
        .map(|(field, value)| field_entry(kind, field, value))
        .collect()
}

/// How one field of a guest's definition enters the keys: the step class and the
/// name it enters under. Mostly [`classify_ct`] / [`classify_vm`] and the field's own
/// name; the eras make two exceptions for containers. `features` written as a Proxmox
/// feature string (2025-08: `"nesting=1,keyctl=1"`) is the `--features` setting, so it
/// is configure-class; and `clone_from_template_ctid` (2025-08-29) enters as
/// `clone_from_ctid`, so renaming it to the modern field changes no key.
pub fn key_entry<'a>(kind: GuestKind, field: &'a str, value: &Value) -> (Class, &'a str) {
    let entry = field_entry(kind, field, value);
    (entry.class, entry.name)
}

/// Whether a guest's field can reach a command line, and so must be one line of
/// printable text: every field phoenix interprets, and `bootstrap_ca_url`, an
/// argument of every feature script. Application fields reach the application
/// script in a JSON file only.
pub fn reaches_commands(kind: GuestKind, field: &str) -> bool {
    reaches_commands_as(lookup(kind, field).0, field)
}

/// [`reaches_commands`] for a field whose class is known already.
pub fn reaches_commands_as(class: Class, field: &str) -> bool {
    class != Class::App || field == "bootstrap_ca_url"
}

pub fn is_known_ct(field: &str) -> bool {
    lookup(GuestKind::Ct, field).1
}

pub fn is_known_vm(field: &str) -> bool {
    lookup(GuestKind::Vm, field).1
}

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;
