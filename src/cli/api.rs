//! The options of the REST API backend (`--backend api`), global like the other
//! backends' options.

use std::path::PathBuf;

use clap::Args;

/// How to reach a Proxmox cluster through its API. The token itself is never an
/// option (it would show in `ps` and in help output): it comes from
/// `PHOENIX_PVE_TOKEN` or `--token-file`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Proxmox cluster through the REST API (--backend api)")]
pub struct ApiArgs {
    /// The cluster's API: any node, `https://pve1:8006`. Given, `--backend auto`
    /// means `api`.
    #[arg(long, global = true, env = "PHOENIX_API", value_name = "URL")]
    pub api: Option<String>,

    /// A file holding the API token, `user@realm!name=secret` (else the
    /// environment variable `PHOENIX_PVE_TOKEN`). The secret is never printed or logged.
    #[arg(
        long,
        global = true,
        env = "PHOENIX_PVE_TOKEN_FILE",
        value_name = "FILE"
    )]
    pub token_file: Option<PathBuf>,

    /// Trust the cluster's certificate through this CA file (the cluster's own CA
    /// is /etc/pve/pve-root-ca.pem on any node), instead of the system's roots.
    #[arg(long, global = true, env = "PHOENIX_API_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// Trust exactly the certificate with this SHA-256 fingerprint, as the Proxmox
    /// GUI shows it (`AB:CD:...`, node → System → Certificates).
    #[arg(
        long,
        global = true,
        env = "PHOENIX_API_FINGERPRINT",
        value_name = "SHA256",
        conflicts_with = "ca_file"
    )]
    pub fingerprint: Option<String>,

    /// The user phoenix logs in as over ssh to a node, for what the API cannot do
    /// (container scripts through `pct exec`, host steps); the node's address comes
    /// from the cluster. The ssh config of --ssh-config applies.
    #[arg(
        long,
        global = true,
        env = "PHOENIX_SSH_USER",
        default_value = "root",
        value_name = "USER"
    )]
    pub ssh_user: String,
}
