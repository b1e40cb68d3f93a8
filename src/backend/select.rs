//! Choosing the backend a command runs against, from settings the command line
//! resolved. The one place that knows every backend's constructor, so the command
//! layer never reaches into a backend's insides.

use std::path::PathBuf;

use super::api::{self, ApiOptions, NodeSsh, Retry, Trust};
use super::lxc::{Lxc, which};
use super::pve::{Pve, PveOptions, Runner, SshTarget};
use super::sim::{Sim, SimOptions};
use super::{Backend, BackendError, DryRun};

/// Which backend: `auto` is api where an API URL is given, pve where `pct` exists
/// or a host is given, else lxc.
/// The command line's `--backend` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Auto,
    Lxc,
    Pve,
    // A Proxmox cluster through its REST API (no doc comment: clap would list
    // this one value alone with a description).
    Api,
    Sim,
    DryRun,
}

/// Everything the backends need to be constructed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub kind: Kind,
    /// pve: the `--host` to reach over ssh; local when absent.
    pub host: Option<SshTarget>,
    /// pve: the ssh config file for that host (`ssh -F`).
    pub ssh_config: Option<String>,
    pub pve: PveOptions,
    pub lxcpath: PathBuf,
    pub prefix: String,
    pub sim_dir: PathBuf,
    pub sim: SimOptions,
    /// api: the cluster and how to trust and reach it.
    pub api: ApiSettings,
}

/// The api backend's settings as the command line gives them (the token is read
/// when the backend is made, so commands that need no backend never read it).
#[derive(Debug, Clone, Default)]
pub struct ApiSettings {
    pub url: Option<String>,
    pub token_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub fingerprint: Option<String>,
    pub ssh_user: String,
}

fn api_options(settings: &Settings) -> Result<ApiOptions, BackendError> {
    let a = &settings.api;
    let unavailable = |m: String| BackendError::Unavailable(m);
    let url = a.url.clone().ok_or_else(|| {
        unavailable(
            "the api backend needs the cluster's address: --api https://pve1:8006 (or PHOENIX_API)"
                .into(),
        )
    })?;
    let trust = match (&a.ca_file, &a.fingerprint) {
        (_, Some(fp)) => Trust::Fingerprint(api::tls::parse_fingerprint(fp).map_err(unavailable)?),
        (Some(ca), None) => Trust::CaFile(ca.clone()),
        (None, None) => Trust::System,
    };
    Ok(ApiOptions {
        url,
        token: api::read_token(a.token_file.as_ref()).map_err(unavailable)?,
        trust,
        ssh: NodeSsh {
            user: a.ssh_user.clone(),
            config: settings.ssh_config.clone(),
        },
        retry: Retry::default(),
    })
}

/// The backend `settings` ask for, or the one this machine has.
pub fn select(settings: &Settings) -> Result<Box<dyn Backend>, BackendError> {
    let pve = || {
        let runner = settings
            .host
            .clone()
            .map_or(Runner::Local, |target| Runner::Ssh {
                target,
                config: settings.ssh_config.clone(),
            });
        Pve::new(runner, settings.pve.clone()).map(|p| Box::new(p) as Box<dyn Backend>)
    };
    match settings.kind {
        Kind::Api => api::connect(&api_options(settings)?, settings.pve.clone())
            .map(|p| Box::new(p) as Box<dyn Backend>),
        Kind::Auto if settings.api.url.is_some() => {
            api::connect(&api_options(settings)?, settings.pve.clone())
                .map(|p| Box::new(p) as Box<dyn Backend>)
        }
        Kind::Pve => pve(),
        Kind::Auto if settings.host.is_some() || which("pct") => pve(),
        Kind::Auto | Kind::Lxc => {
            if Lxc::available() {
                Ok(Box::new(Lxc::new(&settings.lxcpath, &settings.prefix)))
            } else {
                Err(BackendError::Unavailable(
                    "no backend found: neither `pct` (Proxmox VE) nor the LXC tools are installed; \
                     install LXC with `apt-get install lxc busybox-static rsync` (or run scripts/setup.sh), \
                     pass --host root@pve to build on a Proxmox host over ssh, \
                     or --backend sim for a simulated host"
                        .into(),
                ))
            }
        }
        Kind::Sim => {
            Sim::new(&settings.sim_dir, settings.sim).map(|s| Box::new(s) as Box<dyn Backend>)
        }
        Kind::DryRun => Ok(Box::new(DryRun)),
    }
}
