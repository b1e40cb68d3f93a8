//! The [`Lxc`] handle: container names, stamps, ownership and the lxc tools' argv.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backend::command::{self, argv};
use crate::backend::{Claim, Log, OpError, OpResult, Stamp};

pub struct Lxc {
    pub lxcpath: PathBuf,
    pub prefix: String,
    /// The host has a cgroup v2 hierarchy alone (not v1 or hybrid).
    pub(super) cgroup2: bool,
    /// The v1 memory controller accounts swap (`memory.memsw.*`).
    pub(super) memsw: bool,
    /// `<lxcpath>/.phoenix-lock`: one build at a time drives this LXC path.
    pub(super) claim: Claim,
}

pub(super) const STAMP_FILE: &str = "phoenix-stamp";
/// The marker of a converted template (`is_template`), next to the stamp: written
/// last by [`crate::backend::Backend::template`], so a container holding it is a
/// template whole (stopped, no snapshots, `lxc.start.auto = 0`).
pub(super) const TEMPLATE_FILE: &str = "phoenix-template";
pub(super) const SHORT: Duration = Duration::from_mins(1);
impl Lxc {
    /// The backend for the containers named `<prefix><id>` under `lxcpath` (made
    /// absolute: liblxc records it in the clone dependencies it writes).
    pub fn new(lxcpath: &Path, prefix: &str) -> Lxc {
        let lxcpath = std::path::absolute(lxcpath).unwrap_or_else(|_| lxcpath.to_path_buf());
        Lxc {
            lxcpath: lxcpath.clone(),
            prefix: prefix.to_string(),
            cgroup2: Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
            memsw: Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists(),
            claim: Claim::new(
                lxcpath.join(".phoenix-lock"),
                "lxc",
                format!("the LXC path `{}`", lxcpath.display()),
            ),
        }
    }

    /// Whether the lxc tools are installed.
    pub fn available() -> bool {
        which("lxc-create") && which("lxc-attach") && which("lxc-copy")
    }

    pub fn name(&self, id: u32) -> String {
        format!("{}{id}", self.prefix)
    }

    pub(super) fn snap_name(&self, id: u32, snapshot: &str) -> String {
        format!("{}{id}--{snapshot}", self.prefix)
    }

    pub(super) fn dir(&self, name: &str) -> PathBuf {
        self.lxcpath.join(name)
    }

    pub(super) fn exists(&self, name: &str) -> bool {
        self.dir(name).join("config").is_file()
    }

    /// The text of a container's stamp file (the stamp and its proof), if it has one.
    pub(super) fn stamp_text(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir(name).join(STAMP_FILE)).ok()
    }

    pub(super) fn stamp_of(&self, name: &str) -> Stamp {
        self.stamp_text(name)
            .map_or(Stamp::Foreign, |s| Stamp::parse(&s))
    }

    pub(super) fn cmd(&self, tool: &str, name: &str, rest: &[&str]) -> Vec<String> {
        let mut v = argv([tool, "-P"]);
        v.push(self.lxcpath.display().to_string());
        v.push("-n".into());
        v.push(name.to_string());
        v.extend(rest.iter().map(|s| (*s).to_string()));
        v
    }

    /// Refuse to touch a container phoenix did not create.
    pub(super) fn owned(&self, name: &str) -> OpResult {
        if self.exists(name) && self.stamp_of(name) == Stamp::Foreign {
            return Err(OpError::new(format!(
                "container `{name}` in {} was not created by phoenix (no {STAMP_FILE}); refusing to modify or destroy it",
                self.lxcpath.display()
            )));
        }
        Ok(())
    }

    pub(super) fn running(&self, name: &str, log: &mut Log) -> bool {
        command::run(&self.cmd("lxc-info", name, &["-s"]), None, SHORT, log)
            .is_ok_and(|r| r.stdout.contains("RUNNING"))
    }

    /// `lxc-start`, with liblxc's own errors (which `lxc-start` leaves in its log
    /// file: "Could not access /tmp/x. Please grant it x access") in the error.
    pub(super) fn start_name(&self, name: &str, log: &mut Log) -> OpResult {
        let errors = self.dir(name).join("phoenix-start.log");
        let _ = std::fs::remove_file(&errors);
        let path = errors.display().to_string();
        let started = command::check(
            &self.cmd("lxc-start", name, &["-l", "ERROR", "-o", &path]),
            None,
            SHORT,
            log,
        );
        started.map_err(|mut e| {
            let why = liblxc_errors(&std::fs::read_to_string(&errors).unwrap_or_default());
            if !why.is_empty() {
                e.message = format!("{}\nliblxc: {why}", e.message);
            }
            e
        })
    }

    pub(super) fn stop_name(&self, name: &str, log: &mut Log) -> OpResult {
        if !self.running(name, log) {
            return Ok(());
        }
        if command::check(&self.cmd("lxc-stop", name, &["-t", "10"]), None, SHORT, log).is_err() {
            command::check(&self.cmd("lxc-stop", name, &["-k"]), None, SHORT, log)?;
        }
        Ok(())
    }

    /// A clean shutdown, as pve-container's `vm_stop` asks for one: `lxc-stop
    /// --nokill -t T` sends the container's init its halt signal and waits up to
    /// `timeout` (liblxc kills nothing with `--nokill`). A container still running
    /// then is killed with `force` (`lxc-stop -k`); without, the shutdown fails and
    /// the container is left running, its init still at its shutdown, which may
    /// finish later (busybox's takes about two seconds).
    pub(super) fn shutdown_name(
        &self,
        name: &str,
        timeout: Duration,
        force: bool,
        log: &mut Log,
    ) -> OpResult {
        if !self.running(name, log) {
            return Ok(());
        }
        let secs = timeout.as_secs().to_string();
        let graceful = command::check(
            &self.cmd("lxc-stop", name, &["--nokill", "-t", &secs]),
            None,
            timeout + SHORT,
            log,
        );
        let Err(e) = graceful else { return Ok(()) };
        if !self.running(name, log) {
            return Ok(());
        }
        if force {
            log.note(&format!(
                "{name} did not shut down within {secs}s; killing it (--force)"
            ));
            return command::check(&self.cmd("lxc-stop", name, &["-k"]), None, SHORT, log);
        }
        let why = e
            .message
            .lines()
            .next()
            .unwrap_or_default()
            .trim_end_matches([':', ' ']);
        Err(OpError::new(format!(
            "{name} did not stop within {secs}s and was left running, its shutdown perhaps still under way ({why}); --force kills it after the timeout"
        )))
    }

    pub(super) fn destroy_name(&self, name: &str, log: &mut Log) -> OpResult {
        if !self.exists(name) {
            return Ok(());
        }
        self.owned(name)?;
        self.refuse_linked(name)?;
        self.kill_name(name, log)?;
        command::check(&self.cmd("lxc-destroy", name, &[]), None, SHORT, log)
    }

    /// Stop `name` at once, as a container about to be destroyed is stopped on
    /// Proxmox: phoenix's pve backend runs `pct stop` before `pct destroy`, and
    /// `pct stop` is `lxc-stop --kill` (pve-container `PVE::API2::LXC::Status`
    /// `vm_stop` calls `PVE::LXC::vm_stop($vmid, 1)`). A rollback, which destroys
    /// the container to copy its snapshot back, stops it so as well, as Proxmox
    /// does (`PVE::LXC::Config::__snapshot_rollback_vm_stop`). A clean shutdown
    /// first only made a busybox container take two seconds longer to go.
    pub(super) fn kill_name(&self, name: &str, log: &mut Log) -> OpResult {
        if !self.running(name, log) {
            return Ok(());
        }
        command::check(&self.cmd("lxc-stop", name, &["-k"]), None, SHORT, log)
    }

    /// A full, independent copy of `from` as `to`, on a directory backing store
    /// whatever `from`'s is. `-B dir` is not optional: a copy of an overlay
    /// container (a snapshot clone) without it is refused by liblxc (overlay.c
    /// `ovl_clonepaths`: "The overlay storage driver can only be used for
    /// snapshots"). `keep` keeps the hostname and MAC addresses (`-K -M`), for a
    /// snapshot and a rollback, which must come back as they were; a clone gets
    /// its own from `configure`.
    pub(super) fn copy(
        &self,
        from: &str,
        to: &str,
        keep: bool,
        timeout: Duration,
        log: &mut Log,
    ) -> OpResult {
        command::check(&self.copy_argv(from, to, keep, false), None, timeout, log)
    }

    /// The `lxc-copy` of [`Lxc::copy`]; `running` allows a running source
    /// (`--allowrunning`, for [`Lxc::copy_frozen`]).
    fn copy_argv(&self, from: &str, to: &str, keep: bool, running: bool) -> Vec<String> {
        let mut v = self.cmd("lxc-copy", from, &["-N", to, "-B", "dir"]);
        if running {
            v.push("-a".to_string());
        }
        v.extend(["-p".to_string(), self.lxcpath.display().to_string()]);
        if keep {
            v.extend(["-K".to_string(), "-M".to_string()]);
        }
        v
    }

    /// A snapshot of a running container, taken as Proxmox takes one: the
    /// container frozen while its files are copied, then thawed, never stopped
    /// (pve-container `PVE::LXC::Config::__snapshot_freeze`: `PVE::LXC::freeze`,
    /// the volume snapshots, `PVE::LXC::thaw`). Proxmox also syncs the
    /// container's filesystems first, for a snapshot of the block device; a copy
    /// of its files reads them through the page cache, which holds every write.
    /// Only for a container on a directory ([`Lxc::files_copy_running`]).
    /// `lxc-copy` refuses a running source unless told (`--allowrunning`: lxc
    /// `do_lxcapi_clone`, `LXC_CLONE_ALLOW_RUNNING`). Stopping instead cost the
    /// container its processes and a busybox container two seconds.
    ///
    /// `Ok(false)`: `from` could not be frozen (a host without the freezer), and
    /// nothing was copied; the caller stops it for the copy.
    pub(super) fn copy_frozen(
        &self,
        from: &str,
        to: &str,
        timeout: Duration,
        log: &mut Log,
    ) -> Result<bool, OpError> {
        let unfreeze = self.cmd("lxc-unfreeze", from, &[]);
        if let Err(e) = command::check(&self.cmd("lxc-freeze", from, &[]), None, SHORT, log) {
            log.note(&format!(
                "{from} could not be frozen for its snapshot ({e}): it is stopped for it"
            ));
            let _ = command::check(&unfreeze, None, SHORT, log);
            return Ok(false);
        }
        let copied = command::check(&self.copy_argv(from, to, true, true), None, timeout, log);
        // Thawed whatever the copy did: a container left frozen runs nothing.
        let thawed = command::check(&unfreeze, None, SHORT, log);
        copied.and(thawed).map(|()| true)
    }

    /// Whether `name`'s files can be copied while it runs: a directory store,
    /// which `lxc-copy` copies as files. Not a snapshot clone's overlay: to copy
    /// one, liblxc mounts it on the host (`ovl_mount`), a second mount of the
    /// upper layer the running container has mounted, which overlayfs does not
    /// support (a build here then found a directory the container had just made
    /// missing from inside it). Those are stopped for their snapshots.
    pub(super) fn files_copy_running(&self, name: &str) -> bool {
        let path = self.rootfs_path(name).unwrap_or_default();
        path.starts_with("dir:") || path.starts_with('/')
    }

    pub(super) fn write_stamp(&self, name: &str, stamp: &str) -> OpResult {
        crate::fsutil::write_atomic(
            &self.dir(name).join(STAMP_FILE),
            format!("{stamp}\n").as_bytes(),
        )
        .map_err(|e| OpError::new(e.to_string()))
    }

    pub(super) fn attach(&self, name: &str, env: &[(String, String)], cmd: &[&str]) -> Vec<String> {
        let mut v = self.cmd("lxc-attach", name, &["--clear-env"]);
        for (k, val) in env {
            v.push("-v".into());
            v.push(format!("{k}={val}"));
        }
        v.push("--".into());
        v.extend(cmd.iter().map(|s| (*s).to_string()));
        v
    }
}

/// The first few reasons of a liblxc log (`... ERROR start - start.c:fn:99 -
/// Permission denied - Could not access /tmp/x...`): the text after each ERROR
/// line's source location, the `lxc-start` tool's own lines left out.
pub(super) fn liblxc_errors(text: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for l in text.lines().filter(|l| l.contains(" ERROR ")) {
        let Some((_, why)) = l.split_once(" - ").and_then(|(_, r)| r.split_once(" - ")) else {
            continue;
        };
        if l.contains("lxc_start.c")
            || l.contains("wait_on_daemonized_start")
            || l.contains("sync.c")
            || out.contains(&why)
        {
            continue;
        }
        out.push(why.trim());
        if out.len() == 3 {
            break;
        }
    }
    out.join("; ")
}

pub(super) fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

pub fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
}
