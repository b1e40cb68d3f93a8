//! From the command line to the settings a backend is built with.

use std::time::Duration;

use crate::backend::pve::PveOptions;
use crate::backend::select::{self, ApiSettings, Settings};
use crate::backend::sim::SimOptions;
use crate::backend::{Backend, BackendError};
use crate::cli::{BackendKind, Cli};

pub(crate) fn backend_settings(cli: &Cli) -> Settings {
    let g = &cli.global;
    Settings {
        kind: g.backend.unwrap_or(BackendKind::Auto),
        host: g.host.clone(),
        ssh_config: g.ssh_config.clone().filter(|c| !c.is_empty()),
        pve: PveOptions {
            root: g.pve_root.clone(),
            image_dir: g.pve_image_dir.clone(),
        },
        lxcpath: g.lxcpath.clone(),
        prefix: g.prefix.clone(),
        sim_dir: g.sim_dir.clone().unwrap_or_else(|| g.cache.join("sim")),
        sim: SimOptions {
            latency: Duration::from_millis(g.sim_latency_ms),
            exec: g.sim_exec,
        },
        api: ApiSettings {
            url: g.api.api.clone().filter(|u| !u.is_empty()),
            token_file: g.api.token_file.clone(),
            ca_file: g.api.ca_file.clone(),
            fingerprint: g.api.fingerprint.clone().filter(|f| !f.is_empty()),
            ssh_user: g.api.ssh_user.clone(),
        },
    }
}

/// The backend the command line asks for, or the one this machine has.
pub(crate) fn backend(cli: &Cli) -> Result<Box<dyn Backend>, BackendError> {
    select::select(&backend_settings(cli))
}
