//! `Cluster`: the runner of the pve backend on a cluster driven through the REST
//! API. It takes the pve backend's command lines, unchanged, and carries each out
//! where [`route`] says: an API call on the node that holds the guest (a task
//! awaited to its end), the guest agent, or a shell over ssh on a node.
//!
//! **Where guests are.** The node of every guest comes from the inventory's one
//! `GET /cluster/resources?type=vm` answer, kept here and updated by what this run
//! creates, clones, migrates and destroys. A guest this run did not see is looked
//! up with one more inventory call.
//!
//! **Placement** of a new guest (see `placement`) uses the guest the running
//! operation is about, which the backend names with [`Cluster::scope`] (its `node`
//! pin, clone source, storage and memory).
//!
//! **Concurrency.** Proxmox locks a clone's source for the whole clone (pve-container
//! `PVE::API2::LXC` `clone_vm` takes the source's config lock, then runs the copy
//! in the task), so two clones of one source would fail on the lock: here they
//! take turns ([`Cluster::clone_turn`]). Each node runs at most
//! [`TASKS_PER_NODE`] tasks of this run at once.
//!
//! Beside it: `nodes` (addresses, shells over ssh, task slots) and `tasks`
//! (waiting for a task, the guest agent's `exec`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::http::{Client, Method, Params};
use super::nodes::Members;
use super::placement::{self, Placed, Wish};
use super::render::render;
use super::route::{At, Call, Route, route};
use crate::backend::command::Ran;
use crate::backend::pve::cmd::Cmd;
use crate::backend::{Log, OpError};

/// Tasks of this run on one node at once.
pub const TASKS_PER_NODE: usize = 4;

/// How the nodes are reached over ssh (container scripts, host steps, uploads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSsh {
    /// The user phoenix logs in as (`--ssh-user`, `root` by default).
    pub user: String,
    /// An ssh config file (`ssh -F`).
    pub config: Option<String>,
}

/// What the running operation is about: set by the backend around each operation
/// (see [`Cluster::scope`]), read on the same thread.
#[derive(Debug, Clone)]
pub enum Scope {
    /// A guest: a new one is placed by its wish, and shell commands that name no
    /// guest (a staging upload) run on its node.
    Guest(Wish),
    /// A node: shell commands run there (a host step, once per node).
    Node(String),
}

thread_local! {
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Clears the scope when the operation ends.
pub struct ScopeGuard;

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        SCOPE.with(|s| s.borrow_mut().take());
    }
}

#[derive(Debug)]
pub struct Cluster {
    pub(super) client: Client,
    pub(super) ssh: NodeSsh,
    /// vmid → node.
    pub(super) homes: Mutex<HashMap<u32, String>>,
    /// node name → address, from `/cluster/status`, and which node answered.
    pub(super) members: Mutex<Option<Members>>,
    /// What placement knows of the nodes, read when a first guest is placed.
    pub(super) capacity: Mutex<Option<placement::Capacity>>,
    pub(super) clones: Mutex<HashMap<u32, Arc<Mutex<()>>>>,
    pub(super) busy: (Mutex<HashMap<String, usize>>, Condvar),
}

/// The stdout/stderr pair of a failed call, as a tool that failed would leave it.
pub(super) fn failed(message: String) -> Ran {
    Ran {
        status: 255,
        stdout: String::new(),
        stderr: message,
    }
}

pub(super) fn done(stdout: String) -> Ran {
    Ran {
        status: 0,
        stdout,
        stderr: String::new(),
    }
}

impl Cluster {
    pub fn new(client: Client, ssh: NodeSsh) -> Cluster {
        Cluster {
            client,
            ssh,
            homes: Mutex::default(),
            members: Mutex::default(),
            capacity: Mutex::default(),
            clones: Mutex::default(),
            busy: (Mutex::default(), Condvar::new()),
        }
    }

    /// Name the guest the operations on this thread are about, until the guard
    /// is dropped.
    pub fn scope(scope: Scope) -> ScopeGuard {
        SCOPE.with(|s| *s.borrow_mut() = Some(scope));
        ScopeGuard
    }

    pub(super) fn scoped() -> Option<Scope> {
        SCOPE.with(|s| s.borrow().clone())
    }

    /// Learn where guests are from an inventory answer (`/cluster/resources`).
    pub fn learn(&self, resources: &Value) {
        let Some(list) = resources.as_array() else {
            return;
        };
        let mut homes = self
            .homes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for r in list {
            if let (Some(id), Some(node)) = (
                r.get("vmid").and_then(Value::as_u64),
                r.get("node").and_then(Value::as_str),
            ) && let Ok(id) = u32::try_from(id)
            {
                homes.insert(id, node.to_string());
            }
        }
    }

    fn home(&self, vmid: u32) -> Option<String> {
        self.homes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&vmid)
            .cloned()
    }

    fn set_home(&self, vmid: u32, node: Option<String>) {
        let mut homes = self
            .homes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match node {
            Some(n) => homes.insert(vmid, n),
            None => homes.remove(&vmid),
        };
    }

    /// The node holding `vmid`: what this run knows (the inventory it read, and
    /// what it made and moved since), else one more inventory request. The pve
    /// backend asks this instead of reading the whole inventory per guest.
    pub fn node(&self, vmid: u32, log: &mut Log) -> Result<String, OpError> {
        self.node_of(vmid, log).map_err(OpError::new)
    }

    /// The node holding `vmid`, asking the cluster when this run has not seen it.
    pub(super) fn node_of(&self, vmid: u32, log: &mut Log) -> Result<String, String> {
        if let Some(n) = self.home(vmid) {
            return Ok(n);
        }
        let all = self
            .client
            .call(
                Method::Get,
                "/cluster/resources",
                &Params::Pairs(vec![("type".into(), "vm".into())]),
                log,
            )
            .map_err(|f| f.to_string())?;
        self.learn(&all);
        self.home(vmid)
            .ok_or_else(|| format!("guest {vmid} is on no node of the cluster"))
    }

    /// Run `cmd` where it goes.
    pub fn run(
        &self,
        cmd: &Cmd,
        stdin: Option<&[u8]>,
        timeout: Duration,
        log: &mut Log,
        after_abort: bool,
    ) -> Result<Ran, OpError> {
        match route(cmd) {
            Route::Api(call) => {
                log.raw(format!("$ {}\n", cmd.display()).as_bytes());
                Ok(self.api(call, timeout, log))
            }
            Route::AgentExec {
                vmid,
                argv,
                stdin: pass,
                timeout_secs,
            } => {
                log.raw(format!("$ {}\n", cmd.display()).as_bytes());
                let input = if pass { stdin } else { None };
                Ok(self.agent_exec(vmid, &argv, input, Duration::from_secs(timeout_secs), log))
            }
            Route::Shell { vmid } => {
                let node = self.shell_node(vmid, log)?;
                let (node, runner) = self.shell_on(node.as_deref(), log)?;
                log.note(&format!("on node {node}"));
                if after_abort {
                    runner.run_after_abort(cmd, timeout, log)
                } else {
                    runner.run(cmd, stdin, timeout, log)
                }
            }
        }
    }

    /// Whether `cmd` runs in a shell (so a script under it needs the remote
    /// `timeout` that `Runner::check_script` adds).
    pub fn is_shell(cmd: &Cmd) -> bool {
        matches!(route(cmd), Route::Shell { .. })
    }

    /// Where the guest `vmid` goes: by the wish of the guest the operation is
    /// about (see [`Cluster::scope`]).
    pub(super) fn place(&self, vmid: u32, log: &mut Log) -> Result<Placed, OpError> {
        let wish = match Self::scoped() {
            Some(Scope::Guest(w)) if w.vmid == vmid => w,
            _ => Wish {
                vmid,
                ..Wish::default()
            },
        };
        self.place_wish(&wish, log)
    }

    fn with_capacity<T>(
        &self,
        log: &mut Log,
        f: impl FnOnce(&mut placement::Capacity) -> T,
    ) -> Result<T, OpError> {
        let mut cap = self
            .capacity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cap.is_none() {
            let all = self
                .client
                .call(
                    Method::Get,
                    "/cluster/resources",
                    &Params::Pairs(Vec::new()),
                    log,
                )
                .map_err(|f| OpError::new(format!("reading the nodes for placement: {f}")))?;
            self.learn(&all);
            *cap = Some(placement::Capacity::read(&all));
        }
        Ok(f(cap.get_or_insert_with(placement::Capacity::default)))
    }

    /// Where a new guest goes (see `placement`); asked again, the same answer.
    /// The plan asks first, so the build makes each guest where the plan said.
    pub fn place_wish(&self, wish: &Wish, log: &mut Log) -> Result<Placed, OpError> {
        if let Some(p) = self.with_capacity(log, |c| c.already(wish.vmid))? {
            return Ok(p);
        }
        let source_node = match wish.source {
            None => None,
            Some(src) => match self.home(src) {
                Some(n) => Some(n),
                None => match self.with_capacity(log, |c| c.already(src))? {
                    Some(p) => Some(p.node),
                    None => Some(self.node_of(src, log).map_err(OpError::new)?),
                },
            },
        };
        let mut wish = wish.clone();
        wish.home = self.home(wish.vmid);
        self.with_capacity(log, |c| c.place(&wish, source_node.as_deref()))?
            .map_err(OpError::new)
    }

    /// One clone of `source` at a time (Proxmox locks the source for the clone).
    fn clone_turn(&self, source: u32) -> Arc<Mutex<()>> {
        self.clones
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(source)
            .or_default()
            .clone()
    }

    fn api(&self, call: Call, timeout: Duration, log: &mut Log) -> Ran {
        let Call {
            method,
            at,
            mut params,
            render: how,
        } = call;
        let mut turn = None;
        let (node, path, new_home) = match &at {
            At::Path(p) => (node_in(p), p.clone(), None),
            At::Guest { kind, vmid, rest } => match self.node_of(*vmid, log) {
                Ok(node) => {
                    let path = format!("/nodes/{node}/{}/{vmid}{rest}", kind.path());
                    let moved = match rest.as_str() {
                        "/migrate" => params
                            .iter()
                            .find(|(k, _)| k == "target")
                            .map(|(_, t)| (*vmid, Some(t.clone()))),
                        "" if method == Method::Delete => Some((*vmid, None)),
                        _ => None,
                    };
                    (Some(node), path, moved)
                }
                Err(e) => return failed(e),
            },
            At::New { kind, vmid } => match self.place(*vmid, log) {
                Ok(p) => {
                    log.notice(&format!("placed on {}: {}", p.node, p.reason));
                    params.insert(0, ("vmid".into(), vmid.to_string()));
                    let path = format!("/nodes/{}/{}", p.node, kind.path());
                    (Some(p.node.clone()), path, Some((*vmid, Some(p.node))))
                }
                Err(e) => return failed(e.message),
            },
            At::Clone {
                kind,
                source,
                newid,
            } => {
                let from = match self.node_of(*source, log) {
                    Ok(n) => n,
                    Err(e) => return failed(e),
                };
                let to = match self.place(*newid, log) {
                    Ok(p) => {
                        log.notice(&format!("placed on {}: {}", p.node, p.reason));
                        p.node
                    }
                    Err(e) => return failed(e.message),
                };
                if to != from {
                    if !params.iter().any(|(k, v)| k == "full" && v == "1") {
                        return failed(placement::linked_elsewhere(*source, &from, *newid, &to));
                    }
                    params.push(("target".into(), to.clone()));
                }
                params.insert(0, ("newid".into(), newid.to_string()));
                turn = Some(self.clone_turn(*source));
                let path = format!("/nodes/{from}/{}/{source}/clone", kind.path());
                (Some(from), path, Some((*newid, Some(to))))
            }
        };
        let _turn = turn
            .as_ref()
            .map(|t| t.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let _slot = (method != Method::Get).then(|| self.slot(node.as_deref()));
        let data = match self.client.call(method, &path, &Params::Pairs(params), log) {
            Ok(data) => data,
            Err(f) => {
                return failed(format!("{} {path}: {}", method.as_str(), f));
            }
        };
        if let Some(upid) = data.as_str().filter(|s| s.starts_with("UPID:"))
            && let Err(e) = self.wait_task(upid, timeout, log)
        {
            return failed(e);
        }
        if let Some((vmid, home)) = new_home {
            self.set_home(vmid, home);
        }
        if method == Method::Get && path == "/cluster/resources" {
            self.learn(&data);
        }
        done(render(how, &data))
    }
}

/// The node a `/nodes/{node}/...` path names.
fn node_in(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/nodes/")?;
    rest.split('/').next().map(str::to_string)
}
