//! The [`Backend`] trait and what its operations take: the guest with its context,
//! scripts, built-in host steps.

use std::path::PathBuf;
use std::time::Duration;

use super::{BackendError, Inventory, Log, OpError, OpResult};
use crate::defs::{Definitions, Guest, GuestKind};
use crate::graph::NodeId;
use crate::live::Observation;

/// One guest as an operation needs it.
#[derive(Debug, Clone)]
pub struct GuestCtx<'a> {
    pub node: NodeId,
    pub guest: &'a Guest,
    pub defs: &'a Definitions,
    /// The clone source, for a clone.
    pub source: Option<CloneFrom<'a>>,
    pub timeout: Duration,
}

/// Where a clone is made from: a snapshot template's snapshot, or a converted
/// template (or a VM's source) itself.
#[derive(Debug, Clone)]
pub struct CloneFrom<'a> {
    pub guest: &'a Guest,
    /// The snapshot the clone starts from (`template_snapshot_name`); `None` for a
    /// converted template, which is cloned as it is (Proxmox makes a linked clone
    /// of a template by default).
    pub snapshot: Option<String>,
}

impl<'a> CloneFrom<'a> {
    /// How `g` is cloned from its `clone_from` source in `defs`, if it is a clone.
    pub fn of(defs: &'a Definitions, g: &Guest) -> Option<CloneFrom<'a>> {
        let (id, _) = g.clone_from.as_ref()?;
        let guest = defs.guest(*id)?;
        Some(CloneFrom {
            guest,
            snapshot: guest.template.snapshot_name().map(str::to_string),
        })
    }
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
    /// Files of this machine a host script reads, each with the environment
    /// variable that names it to the script (a host step's definition files). A
    /// backend that runs the script on another machine copies them there side by
    /// side and names the copies instead; an argument naming one names its copy.
    pub inputs: Vec<(String, PathBuf)>,
}

impl Script {
    /// The program (and its one optional argument) the script's `#!` line names;
    /// `/bin/sh` when it has none. See [`interpreter`].
    pub fn interpreter(&self) -> Vec<String> {
        interpreter(&std::fs::read(&self.path).unwrap_or_default())
    }

    /// The argv that runs the script on this machine through its own `#!` line,
    /// with its environment and its inputs named by their variables:
    /// `env K=V ... VAR=path ... <interpreter> <script> <args...>`.
    pub fn local_argv(&self) -> Vec<String> {
        let mut argv = vec!["env".to_string()];
        argv.extend(self.env.iter().map(|(k, v)| format!("{k}={v}")));
        argv.extend(
            self.inputs
                .iter()
                .map(|(var, path)| format!("{var}={}", path.display())),
        );
        argv.extend(self.interpreter());
        argv.push(self.path.display().to_string());
        argv.extend(self.args.iter().cloned());
        argv
    }
}

/// How the kernel runs a script file: the `#!` line's first word is the program
/// and the rest of the line, if any, its one argument (`#!/usr/bin/env bash`,
/// `#!/bin/bash -e`); a file without one goes to `/bin/sh`, as `execvp` does.
///
/// Every script runs this way, in a guest and on the host, rather than as
/// `/bin/sh script` (which ran a bash script through dash) or by exec'ing the
/// file (which would make the exec bit of the user's file, and of every copy
/// pushed into a guest, decide whether it runs at all): the interpreter is the
/// one the script names, whatever its mode.
pub fn interpreter(body: &[u8]) -> Vec<String> {
    let first = body.split(|b| *b == b'\n').next().unwrap_or_default();
    let Some(line) = first.strip_prefix(b"#!") else {
        return vec!["/bin/sh".to_string()];
    };
    let line = String::from_utf8_lossy(line);
    let line = line.trim();
    match line.split_once([' ', '\t']) {
        Some((program, arg)) => vec![program.to_string(), arg.trim().to_string()],
        None if line.is_empty() => vec!["/bin/sh".to_string()],
        None => vec![line.to_string()],
    }
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
    /// Claim the host for one build, until the backend is dropped: a second build
    /// from another cache driving the same host is refused (see [`super::Claim`]).
    /// Nothing to claim by default (Proxmox locks its guests itself).
    fn claim(&self) -> Result<(), BackendError> {
        Ok(())
    }

    /// Create the guest from its template, or clone it from `g.source`, stamped `building:`.
    fn create(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult;
    /// Destroy a guest phoenix built, with its snapshots.
    fn destroy(&self, g: &GuestCtx, log: &mut Log) -> OpResult;
    /// Apply the settings (memory, cores, network ...) in place.
    fn configure(&self, g: &GuestCtx, log: &mut Log) -> OpResult;
    /// Start if not running and wait until it can run commands.
    fn start(&self, g: &GuestCtx, log: &mut Log) -> OpResult;
    fn stop(&self, g: &GuestCtx, log: &mut Log) -> OpResult;
    /// Shut a running guest down cleanly (`phoenix stop`): ask its OS to power
    /// off and wait at most `timeout` for it. With `force`, a guest still running
    /// then is killed; without, that is an error and the guest keeps running. A
    /// stopped guest is left as it is. By default, [`Backend::stop`].
    fn shutdown(&self, g: &GuestCtx, _timeout: Duration, _force: bool, log: &mut Log) -> OpResult {
        self.stop(g, log)
    }
    /// Take (or retake) a named snapshot.
    fn snapshot(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult;
    fn rollback(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult;
    /// Make a finished guest a converted template (`is_template`): stopped, its
    /// snapshots deleted (Proxmox converts no guest that has any: pve-container
    /// `PVE::API2::LXC` `template`, "unable to create template, because CT contains
    /// snapshots"), converted. It never starts again; clones are made from it.
    fn template(&self, g: &GuestCtx, log: &mut Log) -> OpResult;
    /// Run a script inside the guest.
    fn exec(&self, g: &GuestCtx, script: &Script, log: &mut Log) -> OpResult;
    /// Write the stamp on the guest.
    fn stamp(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult;
    /// Read the guest's live config and compare it with its definition, setting by
    /// setting, in the backend's own terms (see [`crate::live`]). Reads only; works
    /// on guests with or without phoenix's stamp.
    fn observe(&self, _g: &GuestCtx, _log: &mut Log) -> Result<Observation, OpError> {
        Err(OpError::new(format!(
            "the {} backend cannot read a guest's config",
            self.name()
        )))
    }
    /// Stamp a guest that phoenix did not build (`phoenix adopt`), the one change
    /// adoption makes to it. Unlike [`Backend::stamp`], it takes a guest without a
    /// stamp; it changes nothing else.
    fn adopt(&self, _g: &GuestCtx, _stamp: &str, _log: &mut Log) -> OpResult {
        Err(OpError::new(format!(
            "the {} backend cannot adopt guests",
            self.name()
        )))
    }
    /// Where a guest that is to be made would go and why (`placed on pve2: the
    /// most free memory ...`), on a backend with several nodes; `None` on one
    /// host. An error is a guest that cannot be made where its definition puts it
    /// (a pinned node without its storage, a linked clone pinned away from its
    /// template): the plan refuses it. Asked again, the same answer.
    fn place(&self, _g: &GuestCtx) -> Option<Result<String, String>> {
        None
    }
    /// Run a host step's script on the host.
    fn host(&self, script: &Script, timeout: Duration, log: &mut Log) -> OpResult;
    /// Whether this backend carries out the built-in host steps. Where it does not
    /// (plain LXC has no Proxmox storages), they are skipped as unsupported.
    fn supports_builtin_host(&self) -> bool {
        false
    }
    /// What the backend makes sure of itself once a host step has run (the user's
    /// script or the built-in), before anything that needs the step goes on.
    fn after_host_step(&self, _step: &HostStep, _log: &mut Log) -> OpResult {
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_run_names_each_input_by_its_variable() {
        let s = Script {
            name: "features/host/dns.sh".into(),
            path: PathBuf::from("/defs/features/host/dns.sh"),
            args: vec!["/defs/phoenix_hypervisor_config.json".into(), "x y".into()],
            env: Vec::new(),
            files: Vec::new(),
            inputs: vec![("PHOENIX_LXC_JSON".into(), PathBuf::from("/defs/lxc.json"))],
        };
        assert_eq!(
            s.local_argv(),
            [
                "env",
                "PHOENIX_LXC_JSON=/defs/lxc.json",
                "/bin/sh",
                "/defs/features/host/dns.sh",
                "/defs/phoenix_hypervisor_config.json",
                "x y"
            ]
        );
    }

    #[test]
    fn a_script_runs_through_the_interpreter_its_first_line_names() {
        let of = |text: &str| interpreter(text.as_bytes());
        assert_eq!(of("#!/bin/bash\nset -e\n"), ["/bin/bash"]);
        assert_eq!(of("#!/usr/bin/env bash\n"), ["/usr/bin/env", "bash"]);
        // The rest of the line is one argument, as the kernel passes it.
        assert_eq!(of("#! /bin/bash -e -u\r\n"), ["/bin/bash", "-e -u"]);
        assert_eq!(of("#!/usr/bin/python3"), ["/usr/bin/python3"]);
        // No `#!` line (or an empty one): what execvp does, /bin/sh.
        assert_eq!(of("echo hi\n"), ["/bin/sh"]);
        assert_eq!(of("#!\n"), ["/bin/sh"]);
        assert_eq!(of(""), ["/bin/sh"]);
        assert_eq!(of(" #!/bin/bash\n"), ["/bin/sh"]);
    }
}
