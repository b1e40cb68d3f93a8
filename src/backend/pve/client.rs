//! `Pve`, the backend for one Proxmox host: where its commands run (`Runner`), what
//! the caller configured (`PveOptions`), the node name, and the small queries every
//! operation shares (status, snapshots, firewall rules).

use std::time::Duration;

use serde_json::Value;

use super::cmd::{Cmd, tool};
use super::runner::Runner;
use crate::backend::{BackendError, GuestCtx, Log, OpError, OpResult};
use crate::defs::GuestKind;

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
    /// The Proxmox node name, for `pvesh` paths.
    pub(super) node: String,
    pub(super) opts: PveOptions,
}

pub(super) const SHORT: Duration = Duration::from_secs(120);

impl Pve {
    pub fn new(runner: Runner, opts: PveOptions) -> Result<Pve, BackendError> {
        let mut log = Log::sink();
        let ran = runner
            .check(&Cmd::new(["hostname"]), SHORT, &mut log)
            .map_err(|e| BackendError::Failed {
                backend: "pve",
                message: format!("cannot reach the host: {}", e.message),
            })?;
        Ok(Pve {
            runner,
            node: ran.stdout.trim().to_string(),
            opts,
        })
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

    pub(super) fn firewall_rule_count(&self, g: &GuestCtx, log: &mut Log) -> usize {
        let kind = if g.guest.kind == GuestKind::Ct {
            "lxc"
        } else {
            "qemu"
        };
        let path = format!("/nodes/{}/{kind}/{}/firewall/rules", self.node, g.guest.id);
        self.check(
            &Cmd::new(["pvesh", "get", &path, "--output-format", "json"]),
            SHORT,
            log,
        )
        .ok()
        .and_then(|out| serde_json::from_str::<Value>(&out).ok())
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(0)
    }

    pub(super) fn snapshots(&self, g: &GuestCtx, log: &mut Log) -> Vec<String> {
        let tool = tool(g.guest);
        self.check(
            &Cmd::new([tool, "listsnapshot", &g.guest.id.to_string()]),
            SHORT,
            log,
        )
        .unwrap_or_default()
        .lines()
        // `listsnapshot` prints a tree: "`-> name  date  description".
        .filter_map(|l| {
            l.trim_start_matches(|c: char| c == '`' || c == '-' || c == '>' || c.is_whitespace())
                .split_whitespace()
                .next()
                .map(str::to_string)
        })
        .filter(|n| n != "current")
        .collect()
    }
}
