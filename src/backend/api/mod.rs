//! The REST API backend: a whole Proxmox VE cluster through its HTTPS API, with
//! an API token, instead of root ssh to one node (`--backend api --api
//! https://pve1:8006`).
//!
//! **One Proxmox model.** This backend is the pve backend with another runner,
//! not a second implementation: every operation (create, clone, configure,
//! firewall reconcile, pending changes, snapshots, rollback past newer ones,
//! template, destroy, tags) builds the same `pct`/`qm`/`pvesh` command lines, and
//! [`cluster::Cluster`] carries each out as the API call it stands for (`pct set`
//! is `PUT /nodes/{node}/lxc/{vmid}/config`; see [`route`]), printing the answer
//! as the tool would. So both backends obey the same Proxmox rules, their plans
//! and keys are the same, and the command lines stay checkable against the API
//! schema. A second model, API-shaped, would have had to learn every rule the pve
//! backend learnt from Proxmox's source a second time.
//!
//! Rooms: `tls` (whom to trust), `http` (one request, retries, the token),
//! `route` (command line → API call or shell), `render` (answer → the tool's
//! text), `placement` (the node of a new guest), `cluster` (the runner: nodes,
//! tasks, the agent, ssh to nodes).
//!
//! **Requests.** The inventory is one `GET /cluster/resources?type=vm`, which
//! also tells each guest's node; a no-op build makes only that call. An
//! asynchronous call's task is polled (`/nodes/{node}/tasks/{upid}/status`) to
//! its end; one that fails has its log written to the node's log.
//!
//! **What the API cannot do** runs over ssh on the node concerned, as the user
//! `--ssh-user` (root by default) with the same ssh config (`PHOENIX_SSH_CONFIG`)
//! as `--host`, at the address `/cluster/status` gives: the API has no way to run
//! a command in a container, so feature and application scripts of containers go
//! through `pct push`/`pct exec` there; so do host steps (on the node that answers
//! the API) and cloud image downloads (on the VM's node). VMs run scripts through
//! the guest agent's API endpoints.

mod cluster;
mod http;
mod nodes;
mod placement;
mod render;
pub mod route;
mod tasks;
pub mod tls;

use std::path::PathBuf;
use std::sync::Arc;

pub use cluster::{Cluster, NodeSsh, Scope, ScopeGuard};
pub use http::{Retry, Token};
pub use placement::Wish;
pub use tls::Trust;

use super::pve::{Pve, PveOptions, commands};
use super::{BackendError, GuestCtx};
use crate::defs::GuestKind;

/// The environment variable that holds the token (`user@realm!name=secret`).
pub const TOKEN_ENV: &str = "PHOENIX_PVE_TOKEN";

/// Everything the API backend needs.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// `https://pve1:8006`.
    pub url: String,
    pub token: Token,
    pub trust: Trust,
    pub ssh: NodeSsh,
    pub retry: Retry,
}

/// Where the token comes from: `--token-file`, else [`TOKEN_ENV`].
pub fn read_token(file: Option<&PathBuf>) -> Result<Token, String> {
    let text = match file {
        Some(f) => std::fs::read_to_string(f)
            .map_err(|e| format!("--token-file {}: {e}", f.display()))?,
        None => std::env::var(TOKEN_ENV).map_err(|_| {
            format!(
                "the api backend needs an API token: set {TOKEN_ENV}=user@realm!name=secret or pass --token-file FILE"
            )
        })?,
    };
    Token::parse(&text)
}

/// The runner handle the pve backend holds.
#[derive(Debug, Clone)]
pub struct ApiRunner(pub Arc<Cluster>);

impl PartialEq for ApiRunner {
    fn eq(&self, other: &ApiRunner) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ApiRunner {}

/// The backend for the cluster `opts` names. Nothing is sent yet: the first
/// request is the inventory's, and the certificate is checked before it goes.
pub fn connect(opts: &ApiOptions, pve: PveOptions) -> Result<Pve, BackendError> {
    let fail = |message: String| BackendError::Failed {
        backend: "api",
        message,
    };
    let tls = tls::client_config(&opts.trust).map_err(fail)?;
    let client = http::Client::new(&opts.url, opts.token.clone(), tls, opts.retry).map_err(fail)?;
    let cluster = Cluster::new(client, opts.ssh.clone());
    Ok(Pve::on_cluster(ApiRunner(Arc::new(cluster)), pve))
}

/// What placement needs to know of the guest an operation is about.
pub fn wish_of(g: &GuestCtx) -> Wish {
    let guest = g.guest;
    let linked = match (&g.source, guest.kind) {
        (Some(from), GuestKind::Ct) => {
            let clone = commands::ct_clone(g.defs, guest, from.guest, from.snapshot.as_deref());
            !clone
                .argv
                .windows(2)
                .any(|w| w[0] == "--full" && w[1] == "1")
        }
        _ => false,
    };
    let storage = match guest.kind {
        GuestKind::Ct => Some(commands::root_storage(g.defs, guest)),
        GuestKind::Vm => guest.shape.storage_pool.clone(),
    };
    Wish {
        vmid: guest.id,
        pin: guest.node.clone(),
        source: g.source.as_ref().map(|s| s.guest.id),
        linked,
        storage,
        memory_mb: guest.settings.memory_mb.unwrap_or(512),
        home: None,
    }
}
