//! What a guest is on the host, setting by setting, beside what its definition
//! makes it: the one comparison behind `phoenix adopt` (taking over guests another
//! tool built) and drift (`status --live`, `plan --refresh`: managed guests changed
//! by hand).
//!
//! A backend reads a guest's live config and reports an [`Observation`]: every
//! setting phoenix manages, each as the host has it and as phoenix would set it from
//! the definition, in the backend's own terms and normal form (a Proxmox `net0`
//! with its keys in one order, an lxc `lxc.cgroup2.memory.max`), so the two compare
//! as text. The backend knows what it sets and how the host spells it back; the
//! rest of phoenix only compares.
//!
//! Two kinds of difference:
//!
//! * a **setting** (memory, cores, swap, interfaces, mounts, devices, features,
//!   tags, boot order, firewall options and rules): changed in place by the
//!   `configure` step, so an adopted guest records it as observed and the next
//!   build updates it, and a managed guest with one has drifted;
//! * the **shape** (the kind, the OS, the clone source where the host shows it,
//!   whether it is a converted template): no update changes it. Adoption is
//!   refused, since the guest is not the one defined; it is a replace.
//!
//! What no backend can observe (what the feature and application scripts did
//! inside the guest, whether its health checks pass) is asserted by whoever adopts
//! the guest, and said so in the table.

use serde::Serialize;

use crate::defs::secrets::is_secret;
use crate::key::canon::redacted;

/// One setting phoenix manages: as the host has it and as the definition makes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// The definition field it comes from (`memory_mb`, `network_config`,
    /// `firewall`): what the plan's reasons name.
    pub field: String,
    /// What the backend calls it (`memory`, `net0`, `firewall rule 1`,
    /// `lxc.cgroup2.memory.max`).
    pub name: String,
    /// On the host now; `None`: the host has none.
    pub live: Option<String>,
    /// What the definition makes it; `None`: the definition makes it go (an
    /// interface, mount or rule the definition does not list).
    pub want: Option<String>,
}

impl Setting {
    pub fn new(field: &str, name: &str, live: Option<String>, want: Option<String>) -> Setting {
        Setting {
            field: field.to_string(),
            name: name.to_string(),
            live,
            want,
        }
    }

    pub fn matches(&self) -> bool {
        self.live == self.want
    }

    /// `4096` or `(none)`.
    pub fn live_text(&self) -> &str {
        self.live.as_deref().unwrap_or(NONE)
    }

    /// `4096` or `(none)`.
    pub fn want_text(&self) -> &str {
        self.want.as_deref().unwrap_or(NONE)
    }
}

/// How a missing value reads in tables and reasons.
pub const NONE: &str = "(none)";

/// A guest as a backend read it from the host, compared with its definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observation {
    /// Every setting phoenix manages, matching or not, in the backend's order.
    pub settings: Vec<Setting>,
    /// What makes the guest the one defined (`ostype`, `template`, `linked clone
    /// of`): any difference here refuses adoption.
    pub shape: Vec<Setting>,
    /// Whether it is a converted template (`template: 1`).
    pub template: bool,
    pub running: bool,
    /// Its snapshots, by name.
    pub snapshots: Vec<String>,
}

impl Observation {
    /// The settings that differ from the definition.
    pub fn differing(&self) -> impl Iterator<Item = &Setting> {
        self.settings.iter().filter(|s| !s.matches())
    }

    /// The shape facts that differ from the definition.
    pub fn shape_mismatches(&self) -> impl Iterator<Item = &Setting> {
        self.shape.iter().filter(|s| !s.matches())
    }

    /// The observation with the values of secret settings (`*password*`,
    /// `*token*`, `*secret*`... by field or name) replaced by fingerprints: equal
    /// values stay equal and different ones different, so the comparison holds,
    /// and no table, reason, event or record ever carries the secret.
    #[must_use]
    pub fn redacted(mut self) -> Observation {
        for s in self.settings.iter_mut().chain(self.shape.iter_mut()) {
            if is_secret(&s.field) || is_secret(&s.name) {
                let hide = |v: &mut Option<String>| {
                    if let Some(text) = v {
                        *text = redacted(&serde_json::Value::String(text.clone()))
                            .trim_matches('"')
                            .to_string();
                    }
                };
                hide(&mut s.live);
                hide(&mut s.want);
            }
        }
        self
    }
}

/// The reason a drifted setting gives in a plan: `memory_mb changed outside
/// phoenix: memory 4096 → 8192; update restores 4096`.
pub fn drift_reason(s: &Setting) -> String {
    let what = if s.field == s.name {
        s.field.clone()
    } else {
        format!("{} ({})", s.field, s.name)
    };
    let restores = match &s.want {
        Some(want) => format!("update restores {want}"),
        None => "update removes it".to_string(),
    };
    format!(
        "{what} changed outside phoenix: {} → {}; {restores}",
        s.want_text(),
        s.live_text()
    )
}

/// Proxmox-style `key=value,key=value` text in one order (sorted keys), so two
/// writings of one value compare equal. A part without `=` keeps its place first
/// (`local-zfs:8,mp=/data`: the volume). `ignore` names keys the comparison leaves
/// out (Proxmox's `hwaddr` when the definition gives none).
pub fn normal_property_string(text: &str, ignore: &[&str]) -> String {
    let mut head = Vec::new();
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((k, v)) if !ignore.contains(&k) => pairs.push((k, v)),
            Some(_) => {}
            None => head.push(part),
        }
    }
    pairs.sort_unstable();
    let mut out: Vec<String> = head.into_iter().map(str::to_string).collect();
    out.extend(pairs.into_iter().map(|(k, v)| format!("{k}={v}")));
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drift_reason_names_the_field_both_values_and_what_the_update_does() {
        let s = Setting::new(
            "memory_mb",
            "memory",
            Some("8192".into()),
            Some("4096".into()),
        );
        assert_eq!(
            drift_reason(&s),
            "memory_mb (memory) changed outside phoenix: 4096 → 8192; update restores 4096"
        );
        let gone = Setting::new(
            "firewall",
            "firewall rule 1",
            None,
            Some("IN ACCEPT".into()),
        );
        assert!(drift_reason(&gone).contains("IN ACCEPT → (none); update restores IN ACCEPT"));
        let extra = Setting::new("mount_points", "mp3", Some("/srv,mp=/x".into()), None);
        assert!(drift_reason(&extra).ends_with("update removes it"));
        assert!(!s.matches() && Setting::new("a", "a", None, None).matches());
    }

    #[test]
    fn secret_settings_compare_by_fingerprint_and_never_show() {
        let obs = Observation {
            settings: vec![
                Setting::new(
                    "cipassword",
                    "cipassword",
                    Some("hunter2".into()),
                    Some("s3cret".into()),
                ),
                Setting::new(
                    "api_token",
                    "api_token",
                    Some("same".into()),
                    Some("same".into()),
                ),
                Setting::new("memory_mb", "memory", Some("1".into()), Some("1".into())),
            ],
            ..Observation::default()
        }
        .redacted();
        let text = serde_json::to_string(&obs).unwrap();
        for secret in ["hunter2", "s3cret", "same"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(!obs.settings[0].matches() && obs.settings[1].matches());
        assert!(obs.settings[0].live_text().starts_with("<redacted "));
        assert_eq!(obs.settings[2].live_text(), "1");
    }

    #[test]
    fn property_strings_compare_in_one_order_without_ignored_keys() {
        assert_eq!(
            normal_property_string(
                "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,hwaddr=AA",
                &["hwaddr"]
            ),
            normal_property_string("bridge=vmbr0, ip=10.0.0.5/24,name=eth0", &[])
        );
        assert_eq!(
            normal_property_string("mp=/data,local-zfs:8", &[]),
            "local-zfs:8,mp=/data"
        );
        assert_ne!(
            normal_property_string("name=eth0,ip=10.0.0.5/24", &[]),
            normal_property_string("name=eth0,ip=10.0.0.6/24", &[])
        );
    }
}
