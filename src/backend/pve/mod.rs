//! The Proxmox VE backend: containers and VMs through `pct`, `qm` and `pvesh`, on the
//! host itself or over ssh.
//!
//! `commands` builds every command line as a pure function (checked against the API
//! schema by `schema` in the tests, printed by `build --dry-run --backend pve`); this
//! module runs them. The inventory is one `pvesh get /cluster/resources` call; the
//! stamp is a pair of tags (`phoenix` and `phx-built-<key>`), which that call returns,
//! so a no-op build costs one command. Guest IDs come from the definitions, never
//! from `/cluster/nextid`.
//!
//! `host` carries out the built-in host steps (ZFS, NFS), `vm` the guest-agent,
//! cloud-image and cloud-init parts of VMs.

pub mod commands;
pub mod host;
pub mod runner;
pub mod schema;
mod vm;

use std::time::{Duration, Instant};

use serde_json::Value;

use self::commands::{Cmd, Current};
use self::runner::Runner;
use super::{
    Backend, BackendError, GuestCtx, HostStep, Inventory, Log, Observed, OpError, OpResult, Script,
    Stamp,
};
use crate::defs::GuestKind;
use crate::graph::NodeId;

pub struct Pve {
    runner: Runner,
    /// The Proxmox node name, for `pvesh` paths.
    node: String,
}

const SHORT: Duration = Duration::from_secs(120);

impl Pve {
    pub fn new(runner: Runner) -> Result<Pve, BackendError> {
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
        })
    }

    fn check(&self, cmd: &Cmd, timeout: Duration, log: &mut Log) -> Result<String, OpError> {
        self.runner.check(cmd, timeout, log).map(|r| r.stdout)
    }

    fn all(&self, cmds: &[Cmd], timeout: Duration, log: &mut Log) -> OpResult {
        for c in cmds {
            self.check(c, timeout, log)?;
        }
        Ok(())
    }

    fn status(&self, g: &GuestCtx, log: &mut Log) -> Result<String, OpError> {
        let tool = commands::tool(g.guest);
        self.check(
            &Cmd::new([tool, "status", &g.guest.id.to_string()]),
            SHORT,
            log,
        )
    }

    fn firewall_rule_count(&self, g: &GuestCtx, log: &mut Log) -> usize {
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

    fn snapshots(&self, g: &GuestCtx, log: &mut Log) -> Vec<String> {
        let tool = commands::tool(g.guest);
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

/// Parse `pvesh get /cluster/resources --type vm --output-format json`.
pub fn parse_inventory(json: &str) -> Result<Inventory, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("unreadable inventory: {e}"))?;
    let mut inv = Inventory::new();
    for r in v.as_array().ok_or("inventory is not a list")? {
        let Some(id) = r
            .get("vmid")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
        else {
            continue;
        };
        let node = match r.get("type").and_then(Value::as_str) {
            Some("lxc") => NodeId::Ct(id),
            Some("qemu") => NodeId::Vm(id),
            _ => continue,
        };
        let tags: Vec<&str> = r
            .get("tags")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split([';', ',', ' '])
            .collect();
        let stamp = if !tags.contains(&"phoenix") {
            Stamp::Foreign
        } else if let Some(k) = tags.iter().find_map(|t| t.strip_prefix("phx-built-")) {
            Stamp::Built(k.to_string())
        } else {
            Stamp::Building
        };
        let running = r.get("status").and_then(Value::as_str) == Some("running");
        inv.insert(
            node,
            Observed {
                stamp,
                snapshots: Vec::new(),
                running,
            },
        );
    }
    Ok(inv)
}

impl Pve {
    /// Make the raw `lxc.*` lines of the main section of the guest's config file
    /// exactly its `lxc_options` (there is no `pct set` for them): lines added, and
    /// lines of options since removed from the definitions taken out. Snapshot
    /// sections are never touched.
    fn raw_lines(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let lines: Vec<String> = g
            .guest
            .raw
            .get("lxc_options")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(commands::raw_line)
            .collect();
        let path = host::host_path(&format!("/etc/pve/lxc/{}.conf", g.guest.id));
        let conf = self.check(&Cmd::new(["cat", &path]), SHORT, log)?;
        // Proxmox marks a config that a backup, snapshot or migration is working on;
        // writing it then would race that work (the lock is retried like any other).
        if let Some(lock) = conf
            .lines()
            .take_while(|l| !l.starts_with('['))
            .find_map(|l| l.strip_prefix("lock: "))
        {
            return Err(OpError::from_output(format!(
                "CT is locked ({lock}): {path} is not written while Proxmox holds that lock"
            )));
        }
        let new = commands::with_raw_lines(&conf, &lines);
        if new != conf {
            log.note(&format!(
                "raw lxc lines written to the main section of {path}"
            ));
            self.runner.upload(&path, new.as_bytes(), log)?;
            if self.status(g, log)?.contains("running") {
                // Raw lines apply at start.
                self.check(
                    &Cmd::new(["pct", "reboot", &g.guest.id.to_string()]),
                    g.timeout,
                    log,
                )?;
            }
        }
        Ok(())
    }
}

impl Backend for Pve {
    fn name(&self) -> &'static str {
        "pve"
    }

    fn supports(&self, _: GuestKind) -> bool {
        true
    }

    fn inventory(&self) -> Result<Inventory, BackendError> {
        let mut log = Log::sink();
        let out = self
            .check(&commands::inventory(), SHORT, &mut log)
            .map_err(|e| BackendError::Failed {
                backend: "pve",
                message: e.message,
            })?;
        parse_inventory(&out).map_err(|message| BackendError::Failed {
            backend: "pve",
            message,
        })
    }

    fn create(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        let tags = commands::stamp_tags(stamp);
        let cmds = match (g.guest.kind, &g.source) {
            (GuestKind::Ct, Some((src, snap))) => vec![
                commands::ct_clone(g.guest, src, snap),
                commands::stamp(g.guest, &tags),
            ],
            (GuestKind::Ct, None) => vec![commands::ct_create(g.guest, &tags)],
            (GuestKind::Vm, Some((src, _))) => {
                self.all(
                    &[
                        commands::vm_clone(g.guest, src),
                        commands::stamp(g.guest, &tags),
                    ],
                    g.timeout,
                    log,
                )?;
                return self.grow_vm_disk(g, log);
            }
            (GuestKind::Vm, None) => return self.create_template_vm(g, &tags, log),
        };
        self.all(&cmds, g.timeout, log)
    }

    fn destroy(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let inv = self.inventory().map_err(|e| OpError::new(e.to_string()))?;
        match inv.get(&g.node).map(|o| &o.stamp) {
            None => return Ok(()),
            Some(Stamp::Foreign) => {
                return Err(OpError::new(format!(
                    "{} was not created by phoenix; refusing to destroy it",
                    g.node
                )));
            }
            Some(_) => {}
        }
        let cmds = commands::destroy(g.guest);
        // Stopping a stopped guest fails; that is fine.
        let _ = self.check(&cmds[0], SHORT, log);
        self.all(&cmds[1..], g.timeout, log)
    }

    fn configure(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let id = g.guest.id.to_string();
        let mut cmds = match g.guest.kind {
            GuestKind::Ct => {
                let current =
                    Current::parse(&self.check(&Cmd::new(["pct", "config", &id]), SHORT, log)?);
                commands::ct_configure(g.guest, &current)
            }
            GuestKind::Vm => {
                let current =
                    Current::parse(&self.check(&Cmd::new(["qm", "config", &id]), SHORT, log)?);
                commands::vm_configure(g.guest, g.defs, &current)
            }
        };
        cmds.extend(commands::firewall(
            g.guest,
            &self.node,
            self.firewall_rule_count(g, log),
        ));
        self.all(&cmds, g.timeout, log)?;
        match g.guest.kind {
            GuestKind::Ct => self.raw_lines(g, log),
            // Volumes are mounted at start; a running VM gets changes now.
            GuestKind::Vm if self.status(g, log)?.contains("running") => self.vm_volumes(g, log),
            GuestKind::Vm => Ok(()),
        }
    }

    fn start(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let id = g.guest.id.to_string();
        if !self.status(g, log)?.contains("running") {
            let start = if g.guest.kind == GuestKind::Ct {
                commands::ct_start(g.guest)
            } else {
                commands::vm_start(g.guest)
            };
            let mut last = None;
            for _ in 0..3 {
                match self.check(&start, SHORT, log) {
                    Ok(_) => {
                        last = None;
                        break;
                    }
                    Err(e) if e.message.contains("already running") => {
                        last = None;
                        break;
                    }
                    Err(e) => {
                        last = Some(e);
                        std::thread::sleep(Duration::from_secs(2));
                    }
                }
            }
            if let Some(e) = last {
                return Err(e);
            }
        }
        // Ready: a VM's guest agent answers and cloud-init is done, its volumes
        // are mounted; a container runs commands.
        if g.guest.kind == GuestKind::Vm {
            self.wait_agent(g, log)?;
            self.cloud_init_wait(g, log)?;
            return self.vm_volumes(g, log);
        }
        let probe = Cmd::new(["pct", "exec", &id, "--", "/bin/sh", "-c", "true"]);
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if self.check(&probe, SHORT, log).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(OpError::new(format!(
                    "{} started but is not ready after 300s",
                    g.node
                )));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn stop(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let tool = commands::tool(g.guest);
        self.check(
            &Cmd::new([tool, "shutdown", &g.guest.id.to_string()]),
            g.timeout,
            log,
        )
        .map(|_| ())
    }

    fn snapshot(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        // A template VM's last step makes it a template; Proxmox has no use for a
        // snapshot name there (clones are full copies of the template itself).
        let template_step = g.guest.template_snapshot.as_deref().unwrap_or("template");
        if g.guest.kind == GuestKind::Vm && g.guest.is_template && name == template_step {
            return self.vm_make_template(g, log);
        }
        let exists = self.snapshots(g, log).iter().any(|s| s == name);
        self.all(&commands::snapshot(g.guest, name, exists), g.timeout, log)
    }

    fn rollback(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        if !self.snapshots(g, log).iter().any(|s| s == name) {
            return Err(OpError::new(format!("{} has no snapshot `{name}`", g.node)));
        }
        self.check(&commands::rollback(g.guest, name), g.timeout, log)
            .map(|_| ())
    }

    fn exec(&self, g: &GuestCtx, script: &Script, log: &mut Log) -> OpResult {
        if g.guest.kind == GuestKind::Vm {
            return self.vm_exec(g, script, log);
        }
        let id = g.guest.id.to_string();
        let base = script
            .path
            .file_name()
            .map_or("script".into(), |n| n.to_string_lossy().into_owned());
        let staging = format!("/tmp/phoenix-{id}");
        let mut files: Vec<(String, Vec<u8>)> = script
            .files
            .iter()
            .map(|(n, b)| (format!("/phoenix/{n}"), b.clone()))
            .collect();
        let body = std::fs::read(&script.path)
            .map_err(|e| OpError::new(format!("{}: {e}", script.path.display())))?;
        let remote = format!("/phoenix/run/{base}");
        files.push((remote.clone(), body));
        self.check(
            &Cmd::new(["pct", "exec", &id, "--", "mkdir", "-p", "/phoenix/run"]),
            SHORT,
            log,
        )?;
        for (dest, bytes) in &files {
            let name = dest.rsplit('/').next().unwrap_or("file");
            let host_path = format!("{staging}/{name}");
            self.runner.upload(&host_path, bytes, log)?;
            self.check(
                &Cmd::new(["pct", "push", &id, &host_path, dest]),
                SHORT,
                log,
            )?;
        }
        let mut run = Cmd::new(["pct", "exec", &id, "--", "env"]);
        run.argv
            .extend(script.env.iter().map(|(k, v)| format!("{k}={v}")));
        run.argv.extend(["/bin/sh".to_string(), remote]);
        run.argv.extend(script.args.iter().cloned());
        self.check(&run, g.timeout, log).map(|_| ())
    }

    fn stamp(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        self.check(
            &commands::stamp(g.guest, &commands::stamp_tags(stamp)),
            SHORT,
            log,
        )
        .map(|_| ())
    }

    fn supports_builtin_host(&self) -> bool {
        true
    }

    fn host_builtin(&self, step: &HostStep, log: &mut Log) -> OpResult {
        self.builtin(step, log)
    }

    fn host(&self, script: &Script, timeout: Duration, log: &mut Log) -> OpResult {
        let (path, args) = match &self.runner {
            Runner::Local => (script.path.display().to_string(), script.args.clone()),
            Runner::Ssh(_) => {
                // The script and the hypervisor file go to the host first.
                let body = std::fs::read(&script.path).map_err(|e| OpError::new(e.to_string()))?;
                let remote = format!(
                    "/tmp/phoenix-host/{}",
                    script
                        .path
                        .file_name()
                        .map_or("step.sh".into(), |n| n.to_string_lossy().into_owned())
                );
                self.runner.upload(&remote, &body, log)?;
                let mut args = Vec::new();
                for a in &script.args {
                    let bytes = std::fs::read(a).map_err(|e| OpError::new(format!("{a}: {e}")))?;
                    let r = format!(
                        "/tmp/phoenix-host/{}",
                        std::path::Path::new(a)
                            .file_name()
                            .map_or("config.json".into(), |n| n.to_string_lossy().into_owned())
                    );
                    self.runner.upload(&r, &bytes, log)?;
                    args.push(r);
                }
                (remote, args)
            }
        };
        let mut cmd = Cmd::new(["/bin/sh", &path]);
        cmd.argv.extend(args);
        self.check(&cmd, timeout, log).map(|_| ())
    }
}
