//! Side effects behind one trait. The planner never runs a command: it reads the
//! backend's inventory (one call for everything), and the executor asks the backend
//! for the operations a step is made of.
//!
//! Backends: **dry-run** (runs nothing; its host is what the state directory
//! recorded), **sim** (a simulated host in a directory with injected faults, for tests
//! and benchmarks) and **lxc** (real containers through liblxc's tools).
//!
//! Every guest phoenix builds carries a stamp: `building:<define key>` while it is
//! being built, then `built:<output key>`. A guest without a stamp was not created by
//! phoenix and is never modified or destroyed.

pub mod command;
pub mod lxc;
pub mod pve;
pub mod select;
pub mod sim;

use std::path::PathBuf;
use std::time::Duration;

use crate::defs::{Definitions, Guest, GuestKind};
use crate::graph::NodeId;
use crate::step::Step;

/// Re-exported: the backends report what they observe in these types.
pub use crate::inventory::{Inventory, Observed, Stamp};
pub use command::Log;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// No backend can run on this machine; the message says what to install.
    #[error("{0}")]
    Unavailable(String),
    #[error("backend `{backend}`: {message}")]
    Failed {
        backend: &'static str,
        message: String,
    },
}

/// Why an operation failed. Lock-type failures are retried with backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub message: String,
    pub retryable: bool,
}

impl OpError {
    pub fn new(message: impl Into<String>) -> OpError {
        OpError {
            message: message.into(),
            retryable: false,
        }
    }

    /// Classify a command's error output: "can't lock file", "CT is locked" and
    /// "got timeout" are Proxmox's lock errors; LXC says "Failed to acquire lock".
    pub fn from_output(message: impl Into<String>) -> OpError {
        let message = message.into();
        let lower = message.to_ascii_lowercase();
        let retryable = [
            "can't lock file",
            "is locked",
            "got timeout",
            "failed to acquire lock",
            "resource temporarily unavailable",
        ]
        .iter()
        .any(|p| lower.contains(p));
        OpError { message, retryable }
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type OpResult = Result<(), OpError>;

/// One guest as an operation needs it.
#[derive(Debug, Clone)]
pub struct GuestCtx<'a> {
    pub node: NodeId,
    pub guest: &'a Guest,
    pub defs: &'a Definitions,
    /// Clone source and the snapshot to clone from.
    pub source: Option<(&'a Guest, String)>,
    pub timeout: Duration,
}

/// A script to run inside a guest or on the host.
#[derive(Debug, Clone)]
pub struct Script {
    /// Name for logs, relative to the definitions directory.
    pub name: String,
    pub path: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Files placed next to the script first (guest definition JSON...).
    pub files: Vec<(String, Vec<u8>)>,
}

/// A built-in host step (`zfs`, `nfs`) as the backend needs it.
#[derive(Debug, Clone, Copy)]
pub struct HostStep<'a> {
    pub name: &'static str,
    pub defs: &'a Definitions,
    /// `build --wipe-disks`: disks that hold data may be erased.
    pub wipe_disks: bool,
    pub timeout: Duration,
}

pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;
    /// Everything that exists on the host, in one call.
    fn inventory(&self) -> Result<Inventory, BackendError>;
    /// Whether this backend can build guests of this kind.
    fn supports(&self, kind: GuestKind) -> bool;

    /// Create the guest from its template, or clone it from `g.source`, stamped `building:`.
    fn create(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult;
    /// Destroy a guest phoenix built, with its snapshots.
    fn destroy(&self, g: &GuestCtx, log: &mut Log) -> OpResult;
    /// Apply the settings (memory, cores, network ...) in place.
    fn configure(&self, g: &GuestCtx, log: &mut Log) -> OpResult;
    /// Start if not running and wait until it can run commands.
    fn start(&self, g: &GuestCtx, log: &mut Log) -> OpResult;
    fn stop(&self, g: &GuestCtx, log: &mut Log) -> OpResult;
    /// Take (or retake) a named snapshot.
    fn snapshot(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult;
    fn rollback(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult;
    /// Run a script inside the guest.
    fn exec(&self, g: &GuestCtx, script: &Script, log: &mut Log) -> OpResult;
    /// Write the stamp on the guest.
    fn stamp(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult;
    /// Run a host step's script on the host.
    fn host(&self, script: &Script, timeout: Duration, log: &mut Log) -> OpResult;
    /// Whether this backend carries out the built-in host steps. Where it does not
    /// (plain LXC has no Proxmox storages), they are skipped as unsupported.
    fn supports_builtin_host(&self) -> bool {
        false
    }
    /// Carry out a built-in host step from the hypervisor definitions.
    fn host_builtin(&self, step: &HostStep, _log: &mut Log) -> OpResult {
        Err(OpError::new(format!(
            "the {} backend does not carry out host step `{}`",
            self.name(),
            step.name
        )))
    }
}

/// What a planned node will have done to it, as a backend needs to know it to show
/// the operations it would run (`build --dry-run --backend pve`). The plan's actions
/// map onto this, so backends never depend on the planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Build from nothing.
    Create,
    /// Destroy, then build from nothing.
    Replace,
    /// Apply the settings in place.
    Update,
    /// Run the listed steps on the existing guest (resume, re-run the app, re-snapshot).
    Steps,
}

/// One node's planned work: what is done, which steps, and the output key it ends with.
#[derive(Debug, Clone, Copy)]
pub struct Preview<'a> {
    pub node: NodeId,
    pub work: Work,
    pub steps: &'a [Step],
    pub key: &'a str,
}

/// Runs nothing and observes an empty host. A planning dry run (`plan`,
/// `build --dry-run`) does not ask it: the pipeline takes the host the state
/// directory recorded instead ([`crate::inventory::from_records`]).
#[derive(Debug, Default)]
pub struct DryRun;

impl Backend for DryRun {
    fn name(&self) -> &'static str {
        "dry-run"
    }

    fn inventory(&self) -> Result<Inventory, BackendError> {
        Ok(Inventory::new())
    }

    fn supports(&self, _: GuestKind) -> bool {
        true
    }

    fn create(&self, g: &GuestCtx, _: &str, log: &mut Log) -> OpResult {
        log.note(&format!("would create {}", g.node));
        Ok(())
    }

    fn destroy(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        log.note(&format!("would destroy {}", g.node));
        Ok(())
    }

    fn configure(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        log.note(&format!("would configure {}", g.node));
        Ok(())
    }

    fn start(&self, _: &GuestCtx, _: &mut Log) -> OpResult {
        Ok(())
    }

    fn stop(&self, _: &GuestCtx, _: &mut Log) -> OpResult {
        Ok(())
    }

    fn snapshot(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        log.note(&format!("would snapshot {} as {name}", g.node));
        Ok(())
    }

    fn rollback(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        log.note(&format!("would roll {} back to {name}", g.node));
        Ok(())
    }

    fn exec(&self, g: &GuestCtx, script: &Script, log: &mut Log) -> OpResult {
        log.note(&format!("would run {} in {}", script.name, g.node));
        Ok(())
    }

    fn stamp(&self, _: &GuestCtx, _: &str, _: &mut Log) -> OpResult {
        Ok(())
    }

    fn host(&self, script: &Script, _: Duration, log: &mut Log) -> OpResult {
        log.note(&format!("would run {} on the host", script.name));
        Ok(())
    }

    fn supports_builtin_host(&self) -> bool {
        true
    }

    fn host_builtin(&self, step: &HostStep, log: &mut Log) -> OpResult {
        log.note(&format!("would carry out host step {}", step.name));
        Ok(())
    }
}
