//! The lxc backend: real containers through liblxc's command-line tools.
//!
//! Containers are named `<prefix><id>` (prefix `phx-` by default) under `--lxcpath`,
//! so a build never touches containers it did not name. Snapshots are stopped copies
//! named `<prefix><id>--<snapshot>` (made with `lxc-copy`, which works on every
//! storage type, unlike `lxc-snapshot`'s unnamed `snapN`); a clone is an `lxc-copy` of
//! the source's template snapshot, and a rollback replaces the container by a copy of
//! the snapshot. The stamp is the file `phoenix-stamp` in the container's directory.
//!
//! The root filesystem is busybox (`lxc-create -t busybox`) whatever the `template`
//! field names: this backend exists to run the demo and the end-to-end tests on any
//! Linux machine. Its `/etc/init.d/rcS` is replaced so a static address from the
//! definition is not thrown away by a DHCP client.
//!
//! Every command gets its arguments as argv; values from definitions never pass
//! through a shell.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::command::{self, argv};
use super::{
    Backend, BackendError, GuestCtx, Inventory, Log, Observed, OpError, OpResult, Script, Stamp,
};
use crate::defs::GuestKind;
use crate::graph::NodeId;

pub struct Lxc {
    pub lxcpath: PathBuf,
    pub prefix: String,
    cgroup2: bool,
}

const STAMP_FILE: &str = "phoenix-stamp";
const SHORT: Duration = Duration::from_mins(1);
/// Config keys phoenix owns; `configure` rewrites them and leaves everything else.
const MANAGED: &[&str] = &[
    "lxc.uts.name",
    "lxc.net.0.link",
    "lxc.net.0.hwaddr",
    "lxc.net.0.ipv4.address",
    "lxc.net.0.ipv4.gateway",
    "lxc.cgroup2.memory.max",
    "lxc.cgroup2.cpu.max",
    "lxc.cgroup.memory.limit_in_bytes",
    "lxc.cgroup.cpu.cfs_quota_us",
    "lxc.cgroup.cpu.cfs_period_us",
    "lxc.start.auto",
    "lxc.start.order",
    "lxc.start.delay",
];

const RCS: &str = "#!/bin/sh\n# Written by phoenix: the address comes from the container config, so no DHCP\n# client may reset it; guests defined with ip=dhcp get one.\n/bin/syslogd\n/bin/mount -a\n[ -f /etc/phoenix-dhcp ] && /bin/udhcpc -b -q\n# Services the guest's scripts registered to start at boot.\nfor f in /etc/phoenix/boot.d/*; do [ -f \"$f\" ] && /bin/sh \"$f\"; done\nexit 0\n";

impl Lxc {
    pub fn new(lxcpath: &Path, prefix: &str) -> Lxc {
        Lxc {
            lxcpath: lxcpath.to_path_buf(),
            prefix: prefix.to_string(),
            cgroup2: Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
        }
    }

    /// Whether the lxc tools are installed.
    pub fn available() -> bool {
        which("lxc-create") && which("lxc-attach") && which("lxc-copy")
    }

    pub fn name(&self, id: u32) -> String {
        format!("{}{id}", self.prefix)
    }

    fn snap_name(&self, id: u32, snapshot: &str) -> String {
        format!("{}{id}--{snapshot}", self.prefix)
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.lxcpath.join(name)
    }

    fn exists(&self, name: &str) -> bool {
        self.dir(name).join("config").is_file()
    }

    fn stamp_of(&self, name: &str) -> Stamp {
        std::fs::read_to_string(self.dir(name).join(STAMP_FILE))
            .map_or(Stamp::Foreign, |s| Stamp::parse(&s))
    }

    fn cmd(&self, tool: &str, name: &str, rest: &[&str]) -> Vec<String> {
        let mut v = argv([tool, "-P"]);
        v.push(self.lxcpath.display().to_string());
        v.push("-n".into());
        v.push(name.to_string());
        v.extend(rest.iter().map(|s| (*s).to_string()));
        v
    }

    /// Refuse to touch a container phoenix did not create.
    fn owned(&self, name: &str) -> OpResult {
        if self.exists(name) && self.stamp_of(name) == Stamp::Foreign {
            return Err(OpError::new(format!(
                "container `{name}` in {} was not created by phoenix (no {STAMP_FILE}); refusing to modify or destroy it",
                self.lxcpath.display()
            )));
        }
        Ok(())
    }

    fn running(&self, name: &str, log: &mut Log) -> bool {
        command::run(&self.cmd("lxc-info", name, &["-s"]), None, SHORT, log)
            .is_ok_and(|r| r.stdout.contains("RUNNING"))
    }

    fn stop_name(&self, name: &str, log: &mut Log) -> OpResult {
        if !self.running(name, log) {
            return Ok(());
        }
        if command::check(&self.cmd("lxc-stop", name, &["-t", "10"]), None, SHORT, log).is_err() {
            command::check(&self.cmd("lxc-stop", name, &["-k"]), None, SHORT, log)?;
        }
        Ok(())
    }

    fn destroy_name(&self, name: &str, log: &mut Log) -> OpResult {
        if !self.exists(name) {
            return Ok(());
        }
        self.owned(name)?;
        self.stop_name(name, log)?;
        command::check(&self.cmd("lxc-destroy", name, &[]), None, SHORT, log)
    }

    fn copy(&self, from: &str, to: &str, timeout: Duration, log: &mut Log) -> OpResult {
        let mut v = self.cmd("lxc-copy", from, &["-N", to]);
        v.extend(["-p".to_string(), self.lxcpath.display().to_string()]);
        command::check(&v, None, timeout, log)
    }

    fn write_stamp(&self, name: &str, stamp: &str) -> OpResult {
        crate::fsutil::write_atomic(
            &self.dir(name).join(STAMP_FILE),
            format!("{stamp}\n").as_bytes(),
        )
        .map_err(|e| OpError::new(e.to_string()))
    }

    fn settings(&self, g: &GuestCtx) -> Vec<(String, String)> {
        let raw = &g.guest.raw;
        let mut out = vec![("lxc.uts.name".to_string(), g.guest.name.clone())];
        let net = raw.get("network_config").and_then(Value::as_object);
        let get = |k: &str| net.and_then(|n| n.get(k)).and_then(Value::as_str);
        out.push((
            "lxc.net.0.link".into(),
            get("bridge").unwrap_or("lxcbr0").to_string(),
        ));
        if let Some(mac) = raw.get("mac_address").and_then(Value::as_str) {
            out.push(("lxc.net.0.hwaddr".into(), mac.to_string()));
        }
        if let Some(ip) = get("ip").filter(|ip| *ip != "dhcp") {
            out.push(("lxc.net.0.ipv4.address".into(), ip.to_string()));
            if let Some(gw) = get("gw") {
                out.push(("lxc.net.0.ipv4.gateway".into(), gw.to_string()));
            }
        }
        let memory = raw.get("memory_mb").and_then(Value::as_u64);
        let cores = raw.get("cores").and_then(Value::as_u64);
        if self.cgroup2 {
            if let Some(m) = memory {
                out.push(("lxc.cgroup2.memory.max".into(), format!("{m}M")));
            }
            if let Some(c) = cores {
                out.push((
                    "lxc.cgroup2.cpu.max".into(),
                    format!("{} 100000", c * 100_000),
                ));
            }
        } else {
            if let Some(m) = memory {
                out.push((
                    "lxc.cgroup.memory.limit_in_bytes".into(),
                    format!("{}", m * 1024 * 1024),
                ));
            }
            if let Some(c) = cores {
                out.push(("lxc.cgroup.cpu.cfs_period_us".into(), "100000".into()));
                out.push((
                    "lxc.cgroup.cpu.cfs_quota_us".into(),
                    format!("{}", c * 100_000),
                ));
            }
        }
        let onboot = raw
            .get("start_at_boot")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        out.push((
            "lxc.start.auto".into(),
            if onboot { "1" } else { "0" }.into(),
        ));
        if let Some(o) = raw.get("boot_order").and_then(Value::as_u64) {
            out.push(("lxc.start.order".into(), o.to_string()));
        }
        if let Some(d) = raw.get("boot_delay").and_then(Value::as_u64) {
            out.push(("lxc.start.delay".into(), d.to_string()));
        }
        out
    }

    fn rewrite_config(&self, name: &str, settings: &[(String, String)]) -> Result<bool, OpError> {
        let path = self.dir(name).join("config");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| OpError::new(format!("{}: {e}", path.display())))?;
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| {
                let key = l.split('=').next().unwrap_or("").trim();
                !MANAGED.contains(&key) && !l.starts_with("# phoenix")
            })
            .collect();
        let mut out = kept.join("\n");
        out.push_str("\n# phoenix: settings below are rewritten on every configure\n");
        for (k, v) in settings {
            out.push_str(&format!("{k} = {v}\n"));
        }
        let changed = out != text;
        if changed {
            crate::fsutil::write_atomic(&path, out.as_bytes())
                .map_err(|e| OpError::new(e.to_string()))?;
        }
        Ok(changed)
    }

    fn prepare_rootfs(&self, g: &GuestCtx) -> OpResult {
        let rootfs = self.dir(&self.name(g.guest.id)).join("rootfs");
        let write = |rel: &str, bytes: &[u8]| -> OpResult {
            let p = rootfs.join(rel);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).map_err(|e| OpError::new(e.to_string()))?;
            }
            std::fs::write(&p, bytes).map_err(|e| OpError::new(format!("{}: {e}", p.display())))
        };
        write("etc/init.d/rcS", RCS.as_bytes())?;
        set_mode(&rootfs.join("etc/init.d/rcS"), 0o755);
        let dhcp = g
            .guest
            .raw
            .get("network_config")
            .and_then(|n| n.get("ip"))
            .and_then(Value::as_str)
            == Some("dhcp");
        let flag = rootfs.join("etc/phoenix-dhcp");
        if dhcp {
            write("etc/phoenix-dhcp", b"")?;
        } else {
            let _ = std::fs::remove_file(flag);
        }
        Ok(())
    }

    fn attach(&self, name: &str, env: &[(String, String)], cmd: &[&str]) -> Vec<String> {
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

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

pub fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
}

impl Backend for Lxc {
    fn name(&self) -> &'static str {
        "lxc"
    }

    fn supports(&self, kind: GuestKind) -> bool {
        kind == GuestKind::Ct
    }

    fn inventory(&self) -> Result<Inventory, BackendError> {
        let mut inv = Inventory::new();
        if !self.lxcpath.is_dir() {
            return Ok(inv);
        }
        let mut log = Log::sink();
        let ran = command::run(
            &argv([
                "lxc-ls",
                "-P",
                &self.lxcpath.display().to_string(),
                "-f",
                "-F",
                "NAME,STATE",
            ]),
            None,
            SHORT,
            &mut log,
        )
        .map_err(|e| BackendError::Failed {
            backend: "lxc",
            message: e.message,
        })?;
        if ran.status != 0 {
            return Err(BackendError::Failed {
                backend: "lxc",
                message: format!("lxc-ls failed: {}", ran.stderr.trim()),
            });
        }
        let mut snapshots: HashMap<u32, Vec<String>> = HashMap::new();
        for line in ran.stdout.lines().skip(1) {
            let mut cols = line.split_whitespace();
            let (Some(name), Some(state)) = (cols.next(), cols.next()) else {
                continue;
            };
            let Some(rest) = name.strip_prefix(&self.prefix) else {
                continue;
            };
            if let Some((id, snap)) = rest.split_once("--") {
                if let Ok(id) = id.parse() {
                    snapshots.entry(id).or_default().push(snap.to_string());
                }
                continue;
            }
            let Ok(id) = rest.parse::<u32>() else {
                continue;
            };
            inv.insert(
                NodeId::Ct(id),
                Observed {
                    stamp: self.stamp_of(name),
                    snapshots: Vec::new(),
                    running: state == "RUNNING",
                },
            );
        }
        for (id, snaps) in snapshots {
            if let Some(o) = inv.get_mut(&NodeId::Ct(id)) {
                o.snapshots = snaps;
            }
        }
        Ok(inv)
    }

    fn create(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        let name = self.name(g.guest.id);
        self.owned(&name)?;
        if self.exists(&name) {
            return Err(OpError::new(format!("container `{name}` already exists")));
        }
        // The stamp goes first: a crash in the middle of lxc-create leaves a directory
        // phoenix can recognise as its own and clean up, never an orphan.
        std::fs::create_dir_all(self.dir(&name))
            .map_err(|e| OpError::new(format!("{}: {e}", self.lxcpath.display())))?;
        self.write_stamp(&name, stamp)?;
        match &g.source {
            None => command::check(
                &self.cmd("lxc-create", &name, &["-t", "busybox"]),
                None,
                g.timeout,
                log,
            )?,
            Some((src, snap)) => {
                let from = self.snap_name(src.id, snap);
                if !self.exists(&from) {
                    return Err(OpError::new(format!(
                        "clone source {} has no snapshot `{snap}` (container `{from}` is missing)",
                        src.label()
                    )));
                }
                self.copy(&from, &name, g.timeout, log)?;
            }
        }
        self.write_stamp(&name, stamp)?;
        self.prepare_rootfs(g)
    }

    fn destroy(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let name = self.name(g.guest.id);
        self.owned(&name)?;
        // Snapshots first, then the container itself.
        let prefix = format!("{name}--");
        if let Ok(entries) = std::fs::read_dir(&self.lxcpath) {
            for e in entries.filter_map(Result::ok) {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(&prefix) {
                    self.destroy_name(&n, log)?;
                }
            }
        }
        self.destroy_name(&name, log)
    }

    fn configure(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let name = self.name(g.guest.id);
        self.owned(&name)?;
        let changed = self.rewrite_config(&name, &self.settings(g))?;
        self.prepare_rootfs(g)?;
        log.note(&format!(
            "config of {name} {}",
            if changed { "rewritten" } else { "unchanged" }
        ));
        if changed && self.running(&name, log) {
            // Network and cgroup settings apply at start.
            self.stop_name(&name, log)?;
            self.start(g, log)?;
        }
        Ok(())
    }

    fn start(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let name = self.name(g.guest.id);
        if !self.running(&name, log) {
            command::check(&self.cmd("lxc-start", &name, &[]), None, SHORT, log)?;
            command::check(
                &self.cmd("lxc-wait", &name, &["-s", "RUNNING", "-t", "30"]),
                None,
                SHORT,
                log,
            )?;
        }
        let ready =
            command::poll_until(Duration::from_secs(30), Duration::from_millis(200), || {
                Ok(
                    command::run(&self.attach(&name, &[], &["/bin/true"]), None, SHORT, log)
                        .is_ok_and(|r| r.status == 0)
                        .then_some(()),
                )
            })?;
        ready.ok_or_else(|| {
            OpError::new(format!(
                "{name} started but does not accept commands after 30s"
            ))
        })
    }

    fn stop(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.stop_name(&self.name(g.guest.id), log)
    }

    fn snapshot(&self, g: &GuestCtx, snapshot: &str, log: &mut Log) -> OpResult {
        let name = self.name(g.guest.id);
        let snap = self.snap_name(g.guest.id, snapshot);
        let was_running = self.running(&name, log);
        self.stop_name(&name, log)?;
        self.destroy_name(&snap, log)?;
        std::fs::create_dir_all(self.dir(&snap)).map_err(|e| OpError::new(e.to_string()))?;
        self.write_stamp(&snap, &format!("built:snapshot-of-{name}"))?;
        self.copy(&name, &snap, g.timeout, log)?;
        // A snapshot never starts on its own.
        let _ = self.rewrite_config(&snap, &[("lxc.start.auto".into(), "0".into())]);
        if was_running {
            self.start(g, log)?;
        }
        Ok(())
    }

    fn rollback(&self, g: &GuestCtx, snapshot: &str, log: &mut Log) -> OpResult {
        let name = self.name(g.guest.id);
        let snap = self.snap_name(g.guest.id, snapshot);
        if !self.exists(&snap) {
            return Err(OpError::new(format!(
                "{} has no snapshot `{snapshot}`",
                g.node
            )));
        }
        let stamp = std::fs::read_to_string(self.dir(&name).join(STAMP_FILE)).unwrap_or_default();
        self.destroy_name(&name, log)?;
        std::fs::create_dir_all(self.dir(&name)).map_err(|e| OpError::new(e.to_string()))?;
        self.write_stamp(&name, stamp.trim())?;
        self.copy(&snap, &name, g.timeout, log)?;
        Ok(())
    }

    fn exec(&self, g: &GuestCtx, script: &Script, log: &mut Log) -> OpResult {
        let name = self.name(g.guest.id);
        command::check(
            &self.attach(&name, &[], &["/bin/mkdir", "-p", "/phoenix/run"]),
            None,
            SHORT,
            log,
        )?;
        let mut push = |dest: &str, bytes: &[u8]| -> OpResult {
            let cmd = self.attach(
                &name,
                &[],
                &[
                    "/bin/sh",
                    "-c",
                    "cat > \"$1\" && chmod 755 \"$1\"",
                    "sh",
                    dest,
                ],
            );
            command::check(&cmd, Some(bytes), SHORT, log)
        };
        for (file, bytes) in &script.files {
            push(&format!("/phoenix/{file}"), bytes)?;
        }
        let body = std::fs::read(&script.path)
            .map_err(|e| OpError::new(format!("{}: {e}", script.path.display())))?;
        let base = script
            .path
            .file_name()
            .map_or("script".into(), |n| n.to_string_lossy().into_owned());
        let dest = format!("/phoenix/run/{base}");
        push(&dest, &body)?;
        let mut env = vec![(
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        )];
        env.extend(script.env.iter().cloned());
        let mut cmd: Vec<&str> = vec!["/bin/sh", &dest];
        cmd.extend(script.args.iter().map(String::as_str));
        command::run_logged(&self.attach(&name, &env, &cmd), g.timeout, log)
    }

    fn stamp(&self, g: &GuestCtx, stamp: &str, _: &mut Log) -> OpResult {
        let name = self.name(g.guest.id);
        self.owned(&name)?;
        self.write_stamp(&name, stamp)
    }

    fn host(&self, script: &Script, timeout: Duration, log: &mut Log) -> OpResult {
        let mut v = vec!["/bin/sh".to_string(), script.path.display().to_string()];
        v.extend(script.args.iter().cloned());
        command::run_logged(&v, timeout, log)
    }
}
