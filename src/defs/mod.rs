//! Loading the Phoenix JSON definitions into typed guests.
//!
//! How it works: each JSON file is parsed into a `serde_json::Value` (so a syntax
//! error is reported with line and column and the other files are still read); the
//! container file is cut into its guests, each parsed into the sorted list of its
//! fields while the rest is still cut (see `parse`), in parallel. Then
//! every field phoenix interprets is read through `read::Reader`, which records a
//! diagnostic for a wrong type and moves on. What passes is kept typed on the
//! [`Guest`] ([`settings`] holds the types), defaults resolved once: a VM's
//! `vm_defaults` fallbacks are already in its values. Fields phoenix does not
//! interpret are kept in [`Guest::app_fields`] for the application script and the
//! content keys; each field's canonical text, for the keys, in [`Guest::key_fields`];
//! the whole object as its text ([`written`]), parsed again by [`Guest::definition`]
//! where a script needs it. Cross-guest checks
//! (references, duplicates, scripts) live in [`checks`], run side by side by
//! `across`; dependency cycles are found by the graph.
//!
//! | file | holds |
//! |---|---|
//! | [`model`] | [`Definitions`], [`Guest`], [`GuestKind`], [`HealthCheck`] |
//! | [`settings`] | the typed values of a guest |
//! | `load`, `parse` | [`load`]: the files read and parsed (the container file one guest at a time, in parallel), the readers run |
//! | `across` | the cross-guest checks of [`checks`], side by side, their findings in their order |
//! | `hypervisor` | the hypervisor file's checks |
//! | `guest`, `ct`, `net`, `vm` | what every guest has; the container reader and its interfaces; the VM reader |
//! | `fwrule`, `netbase` | a guest firewall's fields and each rule's protocol, port and addresses, checked as pve-firewall checks them; the protocol and service names of a Proxmox host |
//! | `eras` | the fields whose meaning changed over the shell tool's eras, read into one model |
//! | `dupkeys`, `dupreport` | keys written twice in one object: where, and the warning or error each deserves |
//! | [`idmap`] | a container's `id_maps`, checked, and its effective id map ([`IdMap`]) |

pub(crate) mod across;
pub mod canon;
pub mod checks;
mod ct;
pub mod diag;
mod dupkeys;
mod dupreport;
mod eras;
#[cfg(test)]
mod eras_tests;
pub mod fields;
mod fwrule;
mod guest;
pub mod guests;
pub mod host;
mod hypervisor;
pub mod idmap;
pub mod layout;
mod load;
pub mod model;
mod net;
mod netbase;
mod parse;
pub(crate) mod read;
mod readfile;
pub mod secrets;
pub mod settings;
mod skim;
mod snapshots;
#[cfg(test)]
mod snapshots_tests;
#[cfg(test)]
mod tests;
mod values;
mod vm;
pub mod written;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use guests::Guests;
pub use idmap::{IdKind, IdMap, IdRange, MapOrigin};
pub use layout::Layout;
pub use load::load;
pub(crate) use load::load_unchecked;
pub use model::{Definitions, Guest, GuestKind, HealthCheck, KeyTexts};
pub(crate) use parse::as_object;
pub use settings::{
    Apparmor, BindMount, CloudImage, Devices, Direction, Firewall, FirewallRule, IpConfig, Mounts,
    Network, NfsMount, RuleAction, Settings, Shape, TemplateModel, Volume,
};
pub use snapshots::{SnapshotRules, snapshot_blocker, template_blocker};
