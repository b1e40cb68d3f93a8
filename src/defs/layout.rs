//! Where the files of a definitions directory live.
//!
//! Two layouts exist in the wild. The *native* layout keeps the JSON files at the top
//! and scripts in `features/{lxc,vm,host}/`, `apps/` and `health/`. The *legacy* layout
//! is an existing install of the shell tool: JSON under `etc/`, feature scripts under
//! `bin/lxc_setup/` and `bin/vm_features/` with long prefixed names, host scripts under
//! `bin/hypervisor_setup/`, application scripts directly in `bin/`. Detection: a
//! directory with `etc/phoenix_lxc_configs.json` is legacy.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Native,
    Legacy,
}

/// The three definition files, named relative to the definitions directory.
pub const HYPERVISOR_FILE: &str = "phoenix_hypervisor_config.json";
pub const LXC_FILE: &str = "phoenix_lxc_configs.json";
pub const VM_FILE: &str = "phoenix_vm_configs.json";

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Native => "native",
            Layout::Legacy => "legacy",
        }
    }

    pub fn detect(dir: &Path) -> Layout {
        if dir.join("etc").join(LXC_FILE).is_file() {
            Layout::Legacy
        } else {
            Layout::Native
        }
    }

    /// Path of a definition file relative to the definitions directory.
    pub fn json(self, file: &str) -> String {
        match self {
            Layout::Native => file.to_string(),
            Layout::Legacy => format!("etc/{file}"),
        }
    }

    pub fn lxc_feature(self, feature: &str) -> String {
        match self {
            Layout::Native => format!("features/lxc/{feature}.sh"),
            Layout::Legacy => {
                format!("bin/lxc_setup/phoenix_hypervisor_feature_install_{feature}.sh")
            }
        }
    }

    pub fn vm_feature(self, feature: &str) -> String {
        match self {
            Layout::Native => format!("features/vm/{feature}.sh"),
            Layout::Legacy => format!("bin/vm_features/feature_install_{feature}.sh"),
        }
    }

    /// `legacy_name` is the shell tool's script for that step (see `host.rs`).
    pub fn host_step(self, step: &str, legacy_name: &str) -> String {
        match self {
            Layout::Native => format!("features/host/{step}.sh"),
            Layout::Legacy => format!("bin/hypervisor_setup/{legacy_name}"),
        }
    }

    pub fn app(self, script: &str) -> String {
        match self {
            Layout::Native => format!("apps/{script}"),
            Layout::Legacy => format!("bin/{script}"),
        }
    }

    pub fn health(self, script: &str) -> String {
        match self {
            Layout::Native => format!("health/{script}"),
            Layout::Legacy => format!("bin/health_checks/{script}"),
        }
    }
}

/// A script name from a definition must be a plain file name: no directories, no
/// `..`, nothing a shell would treat specially at the start.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}
