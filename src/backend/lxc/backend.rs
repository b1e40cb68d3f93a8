//! The lxc backend's operations.

use std::collections::HashMap;
use std::time::Duration;

use super::client::{Lxc, SHORT};
use crate::backend::command::{self, argv};
use crate::backend::{
    Backend, BackendError, GuestCtx, Inventory, Log, Observed, OpError, OpResult, Script, Stamp,
};
use crate::defs::GuestKind;
use crate::graph::NodeId;
use crate::inventory::Proof;
use crate::live::Observation;

impl Backend for Lxc {
    fn name(&self) -> &'static str {
        "lxc"
    }

    fn supports(&self, kind: GuestKind) -> bool {
        kind == GuestKind::Ct
    }

    fn claim(&self) -> Result<(), BackendError> {
        self.claim.take()
    }

    fn inventory(&self) -> Result<Inventory, BackendError> {
        let mut inv = Inventory::default();
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
            let stamp = self.stamp_text(name).unwrap_or_default();
            inv.insert(
                NodeId::Ct(id),
                Observed {
                    stamp: Stamp::parse(&stamp),
                    proof: Proof::parse(&stamp),
                    snapshots: Vec::new(),
                    running: state == "RUNNING",
                    node: None,
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
        self.claim.for_op()?;
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
        let map = g.guest.id_map();
        match &g.source {
            None => self.create_busybox(&name, &map, g.timeout, log)?,
            Some(crate::backend::CloneFrom {
                guest: src,
                snapshot: Some(snap),
            }) => {
                let from = self.snap_name(src.id, snap);
                if !self.exists(&from) {
                    return Err(OpError::new(format!(
                        "clone source {} has no snapshot `{snap}` (container `{from}` is missing)",
                        src.label()
                    )));
                }
                self.copy(&from, &name, false, g.timeout, log)?;
            }
            Some(crate::backend::CloneFrom {
                guest: src,
                snapshot: None,
            }) => {
                let from = self.name(src.id);
                if !self.exists(&from) {
                    return Err(OpError::new(format!(
                        "clone source {} (container `{from}`) does not exist",
                        src.label()
                    )));
                }
                self.clone_converted(&from, &name, stamp, &map, g.timeout, log)?;
            }
        }
        // A copy holds its source's map: a clone with another one is re-owned.
        self.adopt_map(&name, &map, log)?;
        self.write_stamp(&name, stamp)?;
        self.prepare_rootfs(g, log)
    }

    fn destroy(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.claim.for_op()?;
        let name = self.name(g.guest.id);
        self.owned(&name)?;
        // Nothing goes while snapshot clones use it; then snapshots first, then the
        // container itself.
        self.refuse_linked(&name)?;
        for snap in self.snapshots_of(&name) {
            self.destroy_name(&snap, log)?;
        }
        self.destroy_name(&name, log)
    }

    fn configure(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.claim.for_op()?;
        let name = self.name(g.guest.id);
        self.owned(&name)?;
        let was_running = self.running(&name, log);
        // Raw `lxc.idmap` lines are settings: a new map re-owns the files first.
        let reowned = self.adopt_map(&name, &g.guest.id_map(), log)?;
        let mounts = self.write_mounts(g, log)?;
        let changed = self.rewrite_config(&name, &self.settings(g))? || reowned || mounts;
        self.prepare_rootfs(g, log)?;
        let set = &g.guest.settings;
        if !self.cgroup2 && (set.memory_mb.is_some() || set.cores.is_some()) {
            log.note(
                "cgroup v1 host: memory and cores are limited through the v1 controllers \
                 (lxc.cgroup.*), best effort; a cgroup v2 host gets memory.max and cpu.max",
            );
        }
        if !self.cgroup2 && set.swap_mb.is_some() && !(self.memsw && set.memory_mb.is_some()) {
            log.notice(
                "swap_mb is not applied: this cgroup v1 host does not account swap \
                 (no memory.memsw; kernel option swapaccount=1) or memory_mb is not set",
            );
        }
        if let (Some(gw), Some(_)) = (
            g.guest.net1.as_ref().and_then(|n| n.gateway),
            super::config::net0_gateway(&g.guest.net),
        ) {
            log.note(&format!(
                "net1's gateway {gw} is not set: net0's is the default route, and liblxc starts no container with two"
            ));
        }
        log.note(&format!(
            "config of {name} {}",
            if changed { "rewritten" } else { "unchanged" }
        ));
        if changed && was_running {
            // Network and cgroup settings apply at start.
            self.stop_name(&name, log)?;
            self.start(g, log)?;
        }
        Ok(())
    }

    fn start(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.claim.for_op()?;
        let name = self.name(g.guest.id);
        // pve-container `PVE::API2::LXC::Status` `vm_start`.
        self.refuse_template(g, &name, "you can't start a CT if it's a template")?;
        if !self.running(&name, log) {
            self.start_name(&name, log)?;
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
        self.claim.for_op()?;
        self.stop_name(&self.name(g.guest.id), log)
    }

    fn shutdown(&self, g: &GuestCtx, timeout: Duration, force: bool, log: &mut Log) -> OpResult {
        self.claim.for_op()?;
        self.shutdown_name(&self.name(g.guest.id), timeout, force, log)
    }

    fn snapshot(&self, g: &GuestCtx, snapshot: &str, log: &mut Log) -> OpResult {
        self.claim.for_op()?;
        let name = self.name(g.guest.id);
        // pve-guest-common `PVE::AbstractConfig::__snapshot_prepare`.
        self.refuse_template(g, &name, "you can't take a snapshot if it's a template")?;
        let snap = self.snap_name(g.guest.id, snapshot);
        // A snapshot template is done once its snapshot is taken, as on Proxmox:
        // its clones are copies of the snapshot, so it stays stopped.
        let template = g.guest.template.snapshot_name() == Some(snapshot);
        let was_running = self.running(&name, log);
        self.destroy_name(&snap, log)?;
        std::fs::create_dir_all(self.dir(&snap)).map_err(|e| OpError::new(e.to_string()))?;
        self.write_stamp(&snap, &format!("built:snapshot-of-{name}"))?;
        // A full copy (of a snapshot clone too), with the container's own name and
        // addresses, which a rollback brings back: frozen, not stopped, where its
        // files can be copied while it runs and it can be frozen.
        let frozen = was_running
            && !template
            && self.files_copy_running(&name)
            && self.copy_frozen(&name, &snap, g.timeout, log)?;
        if !frozen {
            self.stop_name(&name, log)?;
            self.copy(&name, &snap, true, g.timeout, log)?;
        }
        // A snapshot never starts on its own.
        self.set_keys(&snap, &[("lxc.start.auto", "0")])?;
        if template {
            log.note(&format!(
                "{name} is a snapshot template: stopped with its snapshot `{snapshot}`"
            ));
        } else if was_running && !frozen {
            self.start(g, log)?;
        }
        Ok(())
    }

    fn rollback(&self, g: &GuestCtx, snapshot: &str, log: &mut Log) -> OpResult {
        self.claim.for_op()?;
        let name = self.name(g.guest.id);
        // pve-guest-common `PVE::AbstractConfig::snapshot_rollback`.
        self.refuse_template(g, &name, "you can't rollback if vm is a template")?;
        let snap = self.snap_name(g.guest.id, snapshot);
        if !self.exists(&snap) {
            return Err(OpError::new(format!(
                "{} has no snapshot `{snapshot}`",
                g.node
            )));
        }
        // The copy no longer holds what a `built` stamp says: it is `building`
        // until the build that rolled it back stamps it again.
        self.destroy_name(&name, log)?;
        std::fs::create_dir_all(self.dir(&name)).map_err(|e| OpError::new(e.to_string()))?;
        self.write_stamp(&name, &format!("building:rolled-back-to-{snapshot}"))?;
        self.copy(&snap, &name, true, g.timeout, log)?;
        // The copy holds the snapshot's config: the settings phoenix owns come back.
        self.write_mounts(g, log)?;
        self.rewrite_config(&name, &self.settings(g))?;
        Ok(())
    }

    fn template(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.claim.for_op()?;
        let name = self.name(g.guest.id);
        self.owned(&name)?;
        self.make_template(g, &name, log)
    }

    fn exec(&self, g: &GuestCtx, script: &Script, log: &mut Log) -> OpResult {
        self.claim.for_op()?;
        let name = self.name(g.guest.id);
        // pve-container `PVE::CLI::pct` `exec` runs only in a running CT, and a
        // template never runs (`vm_start`).
        self.refuse_template(
            g,
            &name,
            "it never runs, so nothing runs in it (you can't start a CT if it's a template)",
        )?;
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
        let interpreter = crate::backend::interpreter(&body);
        let mut cmd: Vec<&str> = interpreter.iter().map(String::as_str).collect();
        cmd.push(&dest);
        cmd.extend(script.args.iter().map(String::as_str));
        command::run_logged(&self.attach(&name, &env, &cmd), g.timeout, log)
    }

    fn stamp(&self, g: &GuestCtx, stamp: &str, _: &mut Log) -> OpResult {
        self.claim.for_op()?;
        let name = self.name(g.guest.id);
        self.owned(&name)?;
        self.write_stamp(&name, stamp)
    }

    /// Reads the container's files only (see `observe`); a container without
    /// phoenix's stamp is read as any other.
    fn observe(&self, g: &GuestCtx, log: &mut Log) -> Result<Observation, OpError> {
        self.observe_guest(g, log)
    }

    /// Writes the stamp file, whatever the container carries: whether to adopt it
    /// is the caller's decision.
    fn adopt(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        self.claim.for_op()?;
        let name = self.name(g.guest.id);
        if !self.exists(&name) {
            return Err(OpError::new(format!(
                "{} ({name}) does not exist in {}: nothing to adopt",
                g.node,
                self.lxcpath.display()
            )));
        }
        self.write_stamp(&name, stamp)?;
        // Its snapshots (`<name>--<snapshot>` containers) are part of it, as a
        // Proxmox guest's snapshots are: stamped too where they carry none, so
        // that phoenix may later destroy the guest with them.
        for snap in self.snapshots_of(&name) {
            if self.stamp_of(&snap) == Stamp::Foreign {
                self.write_stamp(&snap, stamp)?;
            }
        }
        log.note(&format!("{name} adopted: its stamp is written"));
        Ok(())
    }

    fn host(&self, script: &Script, timeout: Duration, log: &mut Log) -> OpResult {
        self.claim.for_op()?;
        command::run_logged(&script.local_argv(), timeout, log)
    }
}
