//! `Pve`, the backend for one Proxmox host: where its commands run (`Runner`), what
//! the caller configured (`PveOptions`), the node name, and the small queries every
//! operation shares (status, snapshots, firewall rules, pending changes, a guest's
//! node).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::cmd::{Cmd, tool};
use super::commands::{self, Pending, RuleNow, SnapshotNow};
use super::runner::Runner;
use crate::backend::api::{self, ApiRunner, Cluster, Scope, ScopeGuard};
use crate::backend::{BackendError, GuestCtx, Log, OpError, OpResult};

/// Where cloud images are kept on a Proxmox host: the default of
/// [`PveOptions::image_dir`].
pub const IMAGE_DIR: &str = "/var/lib/vz/template/cache";

/// What the caller decides about a Proxmox host, beyond where it is: passed in,
/// never read from the environment here.
#[derive(Debug, Clone)]
pub struct PveOptions {
    /// Prefixes every path of the host's own files phoenix reads or writes
    /// (`/etc/pve/lxc/*.conf`, `/etc/exports`...); empty on a real host. The
    /// stand-in tests keep the host's files in a directory.
    pub root: String,
    /// Where cloud images are kept on the host.
    pub image_dir: String,
}

impl Default for PveOptions {
    fn default() -> PveOptions {
        PveOptions {
            root: String::new(),
            image_dir: IMAGE_DIR.to_string(),
        }
    }
}

pub struct Pve {
    pub(super) runner: Runner,
    pub(super) opts: PveOptions,
    /// This run's own directory on the host for files on their way somewhere
    /// (see [`staging_dir`]).
    pub(super) staging: String,
    /// The inventory's text as the last [`crate::backend::Backend::inventory`]
    /// call read it: `observe`, which runs after one (`status --live`, `plan
    /// --refresh`, `adopt`), finds each guest's node and state there instead of
    /// asking the host again per guest.
    pub(super) last_inventory: std::sync::Mutex<Option<String>>,
}

pub(super) const SHORT: Duration = Duration::from_secs(120);

impl Pve {
    pub fn new(runner: Runner, opts: PveOptions) -> Result<Pve, BackendError> {
        let mut log = Log::sink();
        // Only a probe: the node names `pvesh` paths take are Proxmox's, not
        // necessarily what `hostname` prints (see `node_of`).
        runner
            .check(&Cmd::new(["true"]), SHORT, &mut log)
            .map_err(|e| BackendError::Failed {
                backend: "pve",
                message: format!("cannot reach the host: {}", e.message),
            })?;
        Ok(Pve {
            runner,
            opts,
            staging: staging_dir(),
            last_inventory: std::sync::Mutex::default(),
        })
    }

    /// The backend of a cluster driven through its REST API (`backend::api`):
    /// nothing is reached until the first command (the inventory's request).
    pub fn on_cluster(runner: ApiRunner, opts: PveOptions) -> Pve {
        Pve {
            runner: Runner::Api(runner),
            opts,
            staging: staging_dir(),
            last_inventory: std::sync::Mutex::default(),
        }
    }

    /// On a cluster, name `g` as the guest this thread's commands are about, until
    /// the guard is dropped: a new guest is placed by it, and a shell command
    /// without a guest of its own (a staging upload) runs on its node.
    pub(super) fn on(&self, g: &GuestCtx) -> Option<ScopeGuard> {
        matches!(self.runner, Runner::Api(_)).then(|| Cluster::scope(Scope::Guest(api::wish_of(g))))
    }

    /// The backend of a dry run: nothing is reached, every command goes to
    /// `recorder`; the staging directory has a fixed name, so the printed
    /// commands are the same from run to run.
    pub fn recording(recorder: super::Recorder, opts: PveOptions) -> Pve {
        Pve {
            runner: Runner::Recording(recorder),
            opts,
            staging: "/tmp/phoenix-dry-run".into(),
            last_inventory: std::sync::Mutex::default(),
        }
    }

    /// A directory of this run's staging directory on the host, for one guest's
    /// files or the host step's (`ct-901`, `host`).
    pub(super) fn staging(&self, part: &str) -> String {
        format!("{}/{part}", self.staging)
    }

    /// A path of the host's own files, under [`PveOptions::root`].
    pub(super) fn host_path(&self, path: &str) -> String {
        format!("{}{path}", self.opts.root)
    }

    pub(super) fn check(
        &self,
        cmd: &Cmd,
        timeout: Duration,
        log: &mut Log,
    ) -> Result<String, OpError> {
        self.runner.check(cmd, timeout, log).map(|r| r.stdout)
    }

    pub(super) fn all(&self, cmds: &[Cmd], timeout: Duration, log: &mut Log) -> OpResult {
        for c in cmds {
            self.check(c, timeout, log)?;
        }
        Ok(())
    }

    pub(super) fn status(&self, g: &GuestCtx, log: &mut Log) -> Result<String, OpError> {
        let tool = tool(g.guest);
        self.check(
            &Cmd::new([tool, "status", &g.guest.id.to_string()]),
            SHORT,
            log,
        )
    }

    /// The node a guest lives on: its `node` in `/cluster/resources` (pve-manager
    /// `PVE::API2::Cluster::resources`, always present), else the only node of
    /// `/nodes`.
    pub(super) fn node_of(&self, g: &GuestCtx, log: &mut Log) -> Result<String, OpError> {
        // A cluster's runner knows where every guest is from the one inventory
        // call (and what it made and moved since): no inventory per guest.
        if let Runner::Api(api) = &self.runner {
            return api.0.node(g.guest.id, log);
        }
        let out = self.check(&commands::inventory(), SHORT, log)?;
        let listed = serde_json::from_str::<Value>(&out).ok().and_then(|v| {
            v.as_array()?.iter().find_map(|r| {
                (r.get("vmid")?.as_u64()? == u64::from(g.guest.id))
                    .then(|| r.get("node")?.as_str().map(str::to_string))
                    .flatten()
            })
        });
        let only = || {
            self.check(
                &Cmd::new(["pvesh", "get", "/nodes", "--output-format", "json"]),
                SHORT,
                log,
            )
            .ok()
            .and_then(|out| only_node(&out))
        };
        listed.or_else(only).ok_or_else(|| {
            OpError::new(format!(
                "cannot tell which Proxmox node {} is on: /cluster/resources does not list it and the cluster has several nodes",
                g.node
            ))
        })
    }

    /// The guest's firewall rules as they are, in position order.
    pub(super) fn firewall_rules(
        &self,
        g: &GuestCtx,
        node: &str,
        log: &mut Log,
    ) -> Result<Vec<RuleNow>, OpError> {
        let path = format!("{}/rules", commands::firewall_base(g.guest, node));
        let out = self.check(
            &Cmd::new(["pvesh", "get", &path, "--output-format", "json"]),
            SHORT,
            log,
        )?;
        commands::parse_rules(&out).map_err(|e| OpError::new(format!("{}: {e}", g.node)))
    }

    /// The guest's snapshots, oldest first.
    pub(super) fn snapshots(&self, g: &GuestCtx, log: &mut Log) -> Vec<SnapshotNow> {
        let tool = tool(g.guest);
        let out = self
            .check(
                &Cmd::new([tool, "listsnapshot", &g.guest.id.to_string()]),
                SHORT,
                log,
            )
            .unwrap_or_default();
        commands::parse_listsnapshot(&out)
    }

    /// `pct pending` / `qm pending`: the tags in effect and what waits for a start.
    pub(super) fn pending(&self, g: &GuestCtx, log: &mut Log) -> Result<Pending, OpError> {
        let tool = tool(g.guest);
        let out = self.check(
            &Cmd::new([tool, "pending", &g.guest.id.to_string()]),
            SHORT,
            log,
        )?;
        Ok(Pending::parse(&out))
    }
}

/// A staging directory no other run uses: two phoenix runs on one machine (or
/// against one host) that build the same guest id at once must not overwrite each
/// other's script between the upload and the `pct push`. The process id and the
/// clock tell runs apart, the counter the backends of one process.
fn staging_dir() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "/tmp/phoenix-{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The node of `pvesh get /nodes` when there is exactly one.
fn only_node(json: &str) -> Option<String> {
    let v: Value = serde_json::from_str(json).ok()?;
    match v.as_array()?.as_slice() {
        [one] => one.get("node")?.as_str().map(str::to_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two backends (two runs) never share a staging directory; the old fixed
    /// `/tmp/phoenix-<id>` was the same for every run that built guest `<id>`.
    #[test]
    fn every_backend_stages_in_a_directory_of_its_own() {
        let a = Pve::new(Runner::Local, PveOptions::default()).unwrap();
        let b = Pve::new(Runner::Local, PveOptions::default()).unwrap();
        assert_ne!(a.staging("ct-901"), b.staging("ct-901"));
        assert!(a.staging("ct-901").starts_with("/tmp/phoenix-"));
        assert!(a.staging("ct-901").ends_with("/ct-901"));
    }

    #[test]
    fn the_node_comes_from_proxmox_when_there_is_one() {
        assert_eq!(
            only_node(r#"[{"node":"pve1","status":"online"}]"#).as_deref(),
            Some("pve1")
        );
        assert_eq!(only_node(r#"[{"node":"a"},{"node":"b"}]"#), None);
    }
}
