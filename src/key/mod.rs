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
//! | `define` (ct) | `kind`, define fields (`template`, `template_file` and the `template storage` it is found on, `clone_from_ctid` (also as `clone_from_template_ctid`), `unprivileged`, `storage_pool`, `id_maps`); for a clone: `clone source ct:N` = the source's output key and `clone snapshot` = its `template_snapshot_name` |
//! | `define` (vm) | `kind`, VM define fields, `storage` (`vm_defaults.storage_pool`), `ubuntu_release` and (without their own) `vm_defaults.disk_size_gb` for templates, clone source key |
//! | `configure` | the settings fields (a container's 2025-08 `features` string among them); VMs use `vm_defaults` for missing cores and memory. Not chained: settings never make content stale |
//! | `feature:NAME` | `script <path>` = blake3 of the script's bytes, `global <key>` for each root key of the LXC file, `bootstrap_ca_url`, and for `nvidia` the host's `nvidia_driver.version` |
//! | `app` | `script <path>`, `health <name>` (script hash and arguments), and every application field: everything phoenix does not interpret, unknown fields included |
//! | `snapshot` (ct) / `template` (vm) | snapshot name, lifecycle flag |
//! | host `run` | `script <path>` (built-in steps: `builtin <name>`, the revision of what phoenix does), `section <path>` per section it reads, and `guest <id>` entries for the firewall and DNS steps |
//!
//! `dependencies` enter no key: they order the build and nothing else. Secrets
//! (`*password*`, `*passwd*`, `*token*`, `*secret*`, `*key*` under credentials,
//! `NAME=value` words with such a name) enter as a fingerprint, never as text
//! ([`canon`]).
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
//!
//! Layout: `hash` holds the key types and the hash itself, `assess` computes a
//! selection's keys (manifests from `guest` and `host`, script hashes from
//! [`ScriptHashes`]), and [`canon`] writes values canonically.

mod assess;
mod draft;
/// Canonical text of definition values, kept beside the definitions it reads.
pub use crate::defs::canon;
mod guest;
mod hash;
mod host;
mod manifest;
mod scripts;
#[cfg(test)]
mod tests;

pub use assess::{StepAt, assess, assess_keeping};
pub use hash::{Key, Manifest, NodeKeys, StepKey, step_key};
pub use scripts::ScriptHashes;
