//! The exact `pct`, `qm` and `pvesh` command lines for each operation, as pure
//! functions of the definitions (and, where a re-run must not add things twice, of
//! the guest's current config). Nothing here runs a command: the backend runs them
//! (or records them, for `build --dry-run`), and the tests check every one against
//! the Proxmox API schema.
//!
//! Field mapping (reference §1.2, §2.1, §3), with the shell tool's bugs left out:
//! memory, cores, swap, onboot, startup (only with `boot_order`), net0 and a
//! container's net1 (each with `firewall=1` when the guest's firewall is enabled;
//! interfaces the definition does not have deleted), nameserver, `pct_options` as
//! one `--features`, GPUs as native `devN` passthrough (no hard-coded cgroup majors),
//! mount points and volumes keyed by container path so a re-run adds nothing twice,
//! rootfs growth only (`pct resize` never shrinks), a new bind mount directory owned
//! by the host ids its owner maps to under the container's id map, a clone of a
//! converted template linked where Proxmox can link it. Firewall rules go through
//! `pvesh`, reconciled in order, and the guest's firewall is switched on, which the
//! shell tool forgot.
//!
//! The rooms: `config` (a guest's config and pending changes as Proxmox reports
//! them, raw `lxc.*` lines), `ct` and `vm` (the commands of each kind), `firewall`
//! (the rule reconcile), `snapshots` (retake, rollback past newer snapshots),
//! `guest` (the rest both kinds share), `subid` (the host's `/etc/subuid` and
//! `/etc/subgid` lines a container's id map needs). Every value comes
//! from the guest's typed settings (`defs::settings`), defaults already resolved;
//! none is read out of the JSON by field name. `Cmd` itself lives in `pve::cmd`.

mod config;
mod ct;
mod firewall;
mod guest;
mod snapshots;
mod subid;
mod vm;

pub use self::config::{Current, Pending, device_spec, guest_raw_lines, raw_line, with_raw_lines};
pub use self::ct::{
    bind_source, ct_clone, ct_configure, ct_create, ct_interfaces, ct_net, ct_start, ct_stop,
    ct_template, linked_clone_blocker, root_storage,
};
pub use self::firewall::{
    RuleKey, RuleNow, firewall, firewall_base, firewall_reconcile, parse_rules, wanted_rules,
};
pub use self::guest::{destroy, inventory, merge_tags, stamp, stamp_tags};
pub use self::snapshots::{
    SnapshotNow, is_own_snapshot, parse_listsnapshot, rollback, rollback_to, snapshot,
};
pub use self::subid::{APPEND_MISSING_LINES, append_subids, missing_subids};
pub use self::vm::{
    agent_ping, image_customise, image_download, image_path, image_url, image_work_copy, vm_clone,
    vm_configure, vm_create_template, vm_generalise, vm_grow_disk, vm_net0, vm_start, vm_template,
};
pub use super::client::IMAGE_DIR;
pub use super::cmd::{Cmd, tool};
