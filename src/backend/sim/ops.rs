//! The backend operations on the simulated host. Converted templates behave as
//! Proxmox's do (see the parent module).

use std::time::Duration;

use super::host::{Sim, SimGuest, existing};
use crate::backend::{
    Backend, BackendError, GuestCtx, HostStep, Inventory, Log, Observed, OpError, OpResult, Script,
    Stamp, command,
};
use crate::defs::GuestKind;
use crate::graph::NodeId;
use crate::inventory::Proof;
use crate::live::Observation;

impl Backend for Sim {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn supports(&self, _: GuestKind) -> bool {
        true
    }

    fn claim(&self) -> Result<(), BackendError> {
        self.claim.take()
    }

    fn inventory(&self) -> Result<Inventory, BackendError> {
        let guests = self
            .guests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(guests
            .iter()
            .map(|(node, g)| {
                (
                    *node,
                    Observed {
                        stamp: Stamp::parse(&g.stamp),
                        proof: Proof::parse(&g.stamp),
                        snapshots: g.snapshots.keys().cloned().collect(),
                        running: g.running,
                        node: None,
                    },
                )
            })
            .collect())
    }

    fn create(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        let detail = g.source.as_ref().map_or_else(
            || "template".to_string(),
            |c| match &c.snapshot {
                Some(snap) => format!("clone {}@{snap}", c.guest.label()),
                None => format!("clone {}", c.guest.label()),
            },
        );
        self.op(g.node, "create", &detail, log, |guests| {
            if guests.contains_key(&g.node) {
                return Err(OpError::new(format!("{} already exists", g.node)));
            }
            let mut linked_from = None;
            // A clone starts with its source's settings, as a copy of its config.
            let config = g
                .source
                .as_ref()
                .and_then(|c| guests.get(&NodeId::guest(c.guest.kind, c.guest.id)))
                .map(|sg| sg.config.clone())
                .unwrap_or_default();
            let layers = match &g.source {
                None => vec!["os".to_string()],
                Some(c) => {
                    let src = NodeId::guest(c.guest.kind, c.guest.id);
                    let sg = guests.get(&src).ok_or_else(|| {
                        OpError::new(format!("clone source {src} does not exist"))
                    })?;
                    match &c.snapshot {
                        Some(snap) => sg.snapshots.get(snap).cloned().ok_or_else(|| {
                            OpError::new(format!("{src} has no snapshot `{snap}`"))
                        })?,
                        None if sg.template => {
                            linked_from = Some(src.to_string());
                            sg.layers.clone()
                        }
                        None => {
                            return Err(OpError::new(format!(
                                "{src} is not a template: a clone needs its snapshot"
                            )));
                        }
                    }
                }
            };
            guests.insert(
                g.node,
                SimGuest {
                    node: g.node.to_string(),
                    stamp: stamp.to_string(),
                    layers,
                    linked_from,
                    config,
                    ..SimGuest::default()
                },
            );
            Ok(())
        })
    }

    fn destroy(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.op(g.node, "destroy", "", log, |guests| {
            if guests
                .get(&g.node)
                .is_some_and(|x| Stamp::parse(&x.stamp) == Stamp::Foreign)
            {
                return Err(OpError::new(format!(
                    "{} was not created by phoenix; refusing to destroy it",
                    g.node
                )));
            }
            let me = g.node.to_string();
            let mut linked: Vec<&str> = guests
                .values()
                .filter(|x| x.linked_from.as_deref() == Some(me.as_str()))
                .map(|x| x.node.as_str())
                .collect();
            if !linked.is_empty() {
                linked.sort_unstable();
                return Err(OpError::new(format!(
                    "base volume of {me} is still in use by linked clones ({})",
                    linked.join(", ")
                )));
            }
            guests.remove(&g.node);
            Ok(())
        })
    }

    fn configure(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.op(g.node, "configure", "", log, |guests| {
            let x = existing(guests, g.node)?;
            x.settings += 1;
            x.config = super::settings_of(g.guest);
            Ok(())
        })
    }

    fn start(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.op(g.node, "start", "", log, |guests| {
            let x = existing(guests, g.node)?;
            if x.template {
                return Err(OpError::new(format!(
                    "you can't start {} if it's a template",
                    g.node
                )));
            }
            x.running = true;
            Ok(())
        })
    }

    fn stop(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.op(g.node, "stop", "", log, |guests| {
            existing(guests, g.node)?.running = false;
            Ok(())
        })
    }

    /// `shutdown` in `ops.log` (detail `timeout=<s>s`); a fault on it stands for a
    /// guest that ignores the request until the timeout. Then, with `force`, a
    /// `kill` stops it; without, it keeps running and the shutdown fails.
    fn shutdown(&self, g: &GuestCtx, timeout: Duration, force: bool, log: &mut Log) -> OpResult {
        let detail = format!("timeout={}s", timeout.as_secs());
        let graceful = self.op(g.node, "shutdown", &detail, log, |guests| {
            existing(guests, g.node)?.running = false;
            Ok(())
        });
        match graceful {
            Err(e) if !e.retryable && force => {
                log.note(&format!(
                    "{} did not shut down within {}s ({}); killing it (--force)",
                    g.node,
                    timeout.as_secs(),
                    e.message
                ));
                self.op(g.node, "kill", "", log, |guests| {
                    existing(guests, g.node)?.running = false;
                    Ok(())
                })
            }
            Err(e) if !e.retryable => Err(OpError::new(format!(
                "{} did not stop within {}s and was left running ({}); --force kills it after the timeout",
                g.node,
                timeout.as_secs(),
                e.message
            ))),
            other => other,
        }
    }

    fn snapshot(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        self.op(g.node, "snapshot", name, log, |guests| {
            let x = existing(guests, g.node)?;
            if x.template {
                return Err(OpError::new(format!(
                    "you can't take a snapshot of {} if it's a template",
                    g.node
                )));
            }
            x.snapshots.insert(name.to_string(), x.layers.clone());
            Ok(())
        })
    }

    fn template(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.op(g.node, "template", "", log, |guests| {
            let x = existing(guests, g.node)?;
            if x.template {
                return Err(OpError::new(format!("{} is a template already", g.node)));
            }
            x.running = false;
            x.snapshots.clear();
            x.template = true;
            Ok(())
        })
    }

    /// A rolled-back guest no longer holds what its `built` stamp says: it is
    /// stamped `building` until the build that rolled it back stamps it again.
    fn rollback(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        self.op(g.node, "rollback", name, log, |guests| {
            let x = existing(guests, g.node)?;
            if x.template {
                return Err(OpError::new(format!(
                    "you can't roll {} back if it's a template",
                    g.node
                )));
            }
            x.layers = x
                .snapshots
                .get(name)
                .cloned()
                .ok_or_else(|| OpError::new(format!("no snapshot `{name}`")))?;
            x.stamp = format!("building:rolled-back-to-{name}");
            Ok(())
        })
    }

    fn exec(&self, g: &GuestCtx, script: &Script, log: &mut Log) -> OpResult {
        self.op(g.node, "exec", &script.name, log, |guests| {
            let x = existing(guests, g.node)?;
            if !x.running {
                return Err(OpError::new(format!("{} is not running", g.node)));
            }
            x.layers.push(script.name.clone());
            Ok(())
        })?;
        if self.exec {
            let argv = script.local_argv();
            command::run_logged(&argv, g.timeout, log)?;
        }
        Ok(())
    }

    /// The whole stamp (its proof too) goes on the guest; `ops.log` and faults see
    /// its first line.
    fn stamp(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        let first = stamp.lines().next().unwrap_or_default();
        self.op(g.node, "stamp", first, log, |guests| {
            existing(guests, g.node)?.stamp = stamp.to_string();
            Ok(())
        })
    }

    /// Reads the guest only: no claim, no line in `ops.log`.
    fn observe(&self, g: &GuestCtx, _: &mut Log) -> Result<Observation, OpError> {
        self.observe_guest(g)
    }

    /// Sets the stamp of a guest phoenix did not build (or any guest: whether to
    /// adopt it is the caller's decision), nothing else.
    fn adopt(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        let first = stamp.lines().next().unwrap_or_default();
        self.op(g.node, "adopt", first, log, |guests| {
            existing(guests, g.node)?.stamp = stamp.to_string();
            Ok(())
        })
    }

    fn supports_builtin_host(&self) -> bool {
        true
    }

    /// A simulated host has no disks: the step is logged (and can be made to fail
    /// with a fault on `host`).
    fn host_builtin(&self, step: &HostStep, log: &mut Log) -> OpResult {
        log.raw(format!("$ sim host builtin {}\n", step.name).as_bytes());
        if let Some(err) = self.fault("host", "host", step.name) {
            return Err(err);
        }
        self.host_op(&format!("builtin:{}", step.name));
        Ok(())
    }

    fn host(&self, script: &Script, timeout: Duration, log: &mut Log) -> OpResult {
        log.raw(format!("$ sim host {}\n", script.name).as_bytes());
        if let Some(err) = self.fault("host", "host", &script.name) {
            return Err(err);
        }
        self.host_op(&script.name);
        if self.exec {
            let argv = script.local_argv();
            command::run_logged(&argv, timeout, log)?;
        }
        Ok(())
    }
}
