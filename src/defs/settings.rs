//! The typed, validated values of a guest: what it is made from ([`Shape`]), the
//! settings applied in place ([`Settings`]), its network ([`Network`]), mounts
//! ([`Mounts`]), devices ([`Devices`]), firewall ([`Firewall`]) and template model
//! ([`TemplateModel`]). A container's id map has its own module, `idmap`.
//!
//! They are read once, by the container and VM readers, with every default already
//! resolved (a VM's `vm_defaults` fallbacks among them), so no consumer re-reads the
//! JSON by field name or applies a default of its own. A value that failed
//! validation is absent here; the diagnostic that says why stops the build.

use std::fmt;
use std::net::Ipv4Addr;

use super::idmap::IdRange;

/// What a guest is made from: fields that only take effect when it is created or
/// cloned, so changing them means replacing the guest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// A container's OS template tarball, for `pct create`: its `template` (a path or
    /// volume ID), or `<storage>:vztmpl/<template_file>` (see `template_storage`).
    /// A clone's is not used.
    pub os_template: Option<String>,
    /// The ISO storage a container's `template_file` was found on (from the
    /// hypervisor file's `proxmox_storage_ids`); `None` when `template_file` is not
    /// what the container is created from.
    pub template_storage: Option<String>,
    /// The cloud image a template VM is made from (boxed: most guests have none,
    /// and every guest is held in memory at once).
    pub image: Option<Box<CloudImage>>,
    /// Storage of the root disk. Containers: `storage_pool`; VMs:
    /// `vm_defaults.storage_pool` (a VM's own `storage_pool` is an application field,
    /// as it was for the shell tool).
    pub storage_pool: Option<String>,
    /// A container's `unprivileged` flag (absent: false).
    pub unprivileged: bool,
    /// A container's `id_maps` entries, checked (see [`super::idmap`]); the map
    /// they make is [`Guest::id_map`](super::Guest::id_map).
    pub id_maps: Vec<IdRange>,
    /// A VM's cloud-init user (`user_config.username`).
    pub ci_user: Option<String>,
    /// A template VM's `vm_defaults.ubuntu_release` (from the hypervisor file): the
    /// release its image is downloaded for, when it names no URL of its own.
    pub ubuntu_release: Option<String>,
}

/// A VM's cloud image (`template_image` and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudImage {
    /// The image's file name (`template_image`).
    pub file: String,
    /// Where to download it: `template_image_url`, else Ubuntu's cloud image site for
    /// `vm_defaults.ubuntu_release`; `None` when neither is set.
    pub url: Option<String>,
    /// `template_image_sha256`, lower-cased.
    pub sha256: Option<String>,
}

/// Settings applied in place (`pct set`, `qm set`, the LXC config file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Memory in MiB. VMs without their own: `vm_defaults.memory_mb`.
    pub memory_mb: Option<u64>,
    /// CPU cores. VMs without their own: `vm_defaults.cores`.
    pub cores: Option<u64>,
    /// A container's swap in MiB (`swap_mb`).
    pub swap_mb: Option<u64>,
    /// Root disk size in GiB, grown, never shrunk. Containers: `storage_size_gb`;
    /// VMs: `disk_size_gb`, for a template without its own `vm_defaults.disk_size_gb`.
    pub disk_gb: Option<u64>,
    /// `start_at_boot` (absent: false).
    pub start_at_boot: bool,
    /// `boot_order`: the start-up position.
    pub boot_order: Option<u64>,
    /// `boot_delay` in seconds; backends use 0 when only `boot_order` is set.
    pub boot_delay: Option<u64>,
    /// A container's Proxmox feature flags (`pct_options`, e.g. `nesting=1`), joined
    /// with commas into one `--features` value.
    pub pct_features: Vec<String>,
    /// A container's raw `lxc.*` config lines (`lxc_options`).
    pub lxc_options: Vec<String>,
    /// A container's `AppArmor` profile and nesting flag.
    pub apparmor: Apparmor,
}

/// `apparmor_profile` and `apparmor_manages_nesting`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Apparmor {
    /// The profile name; absent means what the shell tool meant: `unconfined`.
    pub profile: Option<String>,
    pub manages_nesting: bool,
}

/// One network interface of the guest (`net0`, a container's `net1`) and its resolver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    /// Interface name inside a container (`network_config.name`, e.g. `eth0`).
    pub name: Option<String>,
    /// Bridge: a container's `network_config.bridge`; a VM's `vm_defaults.network_bridge`.
    pub bridge: Option<String>,
    /// `network_config.ip`.
    pub ip: Option<IpConfig>,
    /// `network_config.gw`.
    pub gateway: Option<Ipv4Addr>,
    /// The interface's `hwaddr`: for net0, `network_config.hwaddr`, else the
    /// container's `mac_address`; as written.
    pub mac: Option<String>,
    /// Name servers: a container's `network_config.nameservers`, a VM's
    /// `network_config.nameserver`, split at commas and spaces.
    pub nameservers: Vec<String>,
}

impl Network {
    /// The static address without its prefix: what two guests may not share, and
    /// what a guest's DNS points at.
    pub fn static_address(&self) -> Option<Ipv4Addr> {
        match self.ip? {
            IpConfig::Static { address, .. } => Some(address),
            IpConfig::Dhcp | IpConfig::Manual => None,
        }
    }

    /// The MAC address in one spelling (upper case), so two guests' compare equal.
    pub fn mac_key(&self) -> Option<String> {
        self.mac.as_deref().map(str::to_ascii_uppercase)
    }

    /// The MAC address as its 48 bits, whatever the case of its digits: what two
    /// guests may not share, compared without making a string. `None` when there
    /// is no MAC or it is not six pairs of hex digits.
    pub fn mac_bits(&self) -> Option<u64> {
        parse_mac(self.mac.as_deref()?)
    }
}

/// A MAC address written as six pairs of hex digits separated by `:`, as its 48
/// bits; `None` when it is written otherwise.
pub(crate) fn parse_mac(mac: &str) -> Option<u64> {
    let b = mac.as_bytes();
    if b.len() != 17 {
        return None;
    }
    let mut bits = 0u64;
    for (i, &c) in b.iter().enumerate() {
        if i % 3 == 2 {
            if c != b':' {
                return None;
            }
            continue;
        }
        bits = bits << 4 | u64::from(char::from(c).to_digit(16)?);
    }
    Some(bits)
}

/// How an interface gets its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpConfig {
    Dhcp,
    /// `manual`: the guest configures itself.
    Manual,
    /// An IPv4 address with its prefix length (`10.0.0.5/24`).
    Static {
        address: Ipv4Addr,
        prefix: u8,
    },
}

impl fmt::Display for IpConfig {
    /// As Proxmox and the definitions write it: `dhcp`, `manual`, `10.0.0.5/24`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpConfig::Dhcp => f.write_str("dhcp"),
            IpConfig::Manual => f.write_str("manual"),
            IpConfig::Static { address, prefix } => write!(f, "{address}/{prefix}"),
        }
    }
}

/// Storage attached to the guest, in definition order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mounts {
    /// A container's `mount_points`: host directories bound into it.
    pub binds: Vec<BindMount>,
    /// A container's `zfs_volumes`, then its `volumes`: new volumes on a storage.
    pub volumes: Vec<Volume>,
    /// A VM's NFS `volumes`, mounted inside the guest through its `/etc/fstab`.
    pub nfs: Vec<NfsMount>,
}

/// One entry of `mount_points`. Entries missing either path are not here (the
/// container path is diagnosed; a missing host path was always skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    pub host_path: String,
    pub container_path: String,
    /// `owner_uid` and `owner_gid` inside the container, when given.
    pub owner_uid: Option<u64>,
    pub owner_gid: Option<u64>,
}

/// One entry of `zfs_volumes` or `volumes` of a container: `<pool>:<size_gb>`
/// mounted at `mount_point`. Entries missing one of the three are not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: Option<String>,
    pub pool: String,
    pub size_gb: u64,
    pub mount_point: String,
}

/// One NFS entry (`"type": "nfs"`) of a VM's `volumes`: `server:path` at
/// `mount_point`. Entries missing one of the three are not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfsMount {
    pub name: Option<String>,
    pub server: String,
    /// The exported directory on the server (also created on the host).
    pub path: String,
    pub mount_point: String,
}

impl NfsMount {
    /// `server:path`, the first word of the fstab line.
    pub fn source(&self) -> String {
        format!("{}:{}", self.server, self.path)
    }
}

/// Host devices passed into the guest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Devices {
    /// NVIDIA GPU indices from `gpu_assignment` (`"0,1"`), without duplicates.
    pub gpus: Vec<u32>,
}

impl Devices {
    /// The device nodes a container with these GPUs needs, in the order Proxmox
    /// gets them as `dev0`, `dev1`, ...: the control nodes, then one per GPU.
    pub fn gpu_device_paths(&self) -> Vec<String> {
        if self.gpus.is_empty() {
            return Vec::new();
        }
        ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]
            .into_iter()
            .map(str::to_string)
            .chain(self.gpus.iter().map(|n| format!("/dev/nvidia{n}")))
            .collect()
    }
}

/// The guest's Proxmox firewall (`firewall`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Firewall {
    /// Whether the section is there at all (an absent one leaves the firewall alone
    /// in the host's cluster rules).
    pub defined: bool,
    /// `firewall.enabled` (absent: false).
    pub enabled: bool,
    /// `firewall.policy_in` / `policy_out`: what happens to traffic no rule
    /// matches. Absent, Proxmox's defaults apply: inbound DROP, outbound ACCEPT
    /// (pve-firewall `PVE::Firewall`, rule generation for a guest).
    pub policy_in: Option<RuleAction>,
    pub policy_out: Option<RuleAction>,
    pub rules: Vec<FirewallRule>,
}

/// One entry of `firewall.rules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallRule {
    /// `type` (absent: in).
    pub direction: Direction,
    /// `action` (absent: ACCEPT).
    pub action: RuleAction,
    pub proto: Option<String>,
    pub source: Option<String>,
    pub dest: Option<String>,
    /// Destination port or range, as written (`"443"`, `8000`, `"8000:8010"`).
    pub port: Option<String>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    /// `in` or `out`, as Proxmox writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    Accept,
    Drop,
    Reject,
}

impl RuleAction {
    /// `ACCEPT`, `DROP` or `REJECT`, as Proxmox writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleAction::Accept => "ACCEPT",
            RuleAction::Drop => "DROP",
            RuleAction::Reject => "REJECT",
        }
    }
}

/// Whether, and how, the guest is a template for clones (DESIGN §6: both models
/// are first-class).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TemplateModel {
    /// Not a template.
    #[default]
    None,
    /// A container that takes a snapshot of itself (`template_snapshot_name`); its
    /// clones start from that snapshot.
    Snapshot { name: String },
    /// A guest converted with `pct template` or `qm template` (`is_template`) once
    /// built; its clones are made from it (linked, where the storage allows).
    Converted,
}

impl TemplateModel {
    pub fn is_template(&self) -> bool {
        !matches!(self, TemplateModel::None)
    }

    /// The snapshot clones start from, for the snapshot model.
    pub fn snapshot_name(&self) -> Option<&str> {
        match self {
            TemplateModel::Snapshot { name } => Some(name),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Network;

    fn bits(mac: &str) -> Option<u64> {
        Network {
            mac: Some(mac.to_string()),
            ..Network::default()
        }
        .mac_bits()
    }

    /// Two spellings of one MAC are one MAC; what is not a MAC is none.
    #[test]
    fn a_mac_is_its_bits_in_either_case() {
        assert_eq!(bits("52:54:00:ab:cd:9a"), Some(0x5254_00ab_cd9a));
        assert_eq!(bits("52:54:00:AB:CD:9A"), bits("52:54:00:ab:cd:9a"));
        assert_ne!(bits("52:54:00:AB:CD:9B"), bits("52:54:00:AB:CD:9A"));
        for bad in [
            "",
            "52:54:00:AB:CD",
            "52:54:00:AB:CD:9A:00",
            "52-54-00-AB-CD-9A",
            "52:54:00:AB:CD:9G",
            "5:254:00:AB:CD:9A",
            "52:54:00:AB:CD:é",
        ] {
            assert_eq!(bits(bad), None, "{bad}");
        }
        assert_eq!(Network::default().mac_bits(), None);
    }
}
