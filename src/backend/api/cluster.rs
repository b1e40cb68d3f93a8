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

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{Client, Failure, Method, Params};
use super::placement::{self, Placed, Wish};
use super::render::render;
use super::route::{At, Call, Kind, Route, route};
use crate::backend::command::Ran;
use crate::backend::pve::cmd::Cmd;
use crate::backend::pve::runner::{Runner, SshTarget};
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
    client: Client,
    ssh: NodeSsh,
    /// vmid → node.
    homes: Mutex<HashMap<u32, String>>,
    /// node name → address, from `/cluster/status`, and which node answered.
    members: Mutex<Option<Members>>,
    /// What placement knows of the nodes, read when a first guest is placed.
    capacity: Mutex<Option<placement::Capacity>>,
    clones: Mutex<HashMap<u32, Arc<Mutex<()>>>>,
    busy: (Mutex<HashMap<String, usize>>, Condvar),
}

#[derive(Debug, Clone)]
struct Members {
    ips: HashMap<String, String>,
    local: Option<String>,
    online: Vec<String>,
}

/// The stdout/stderr pair of a failed call, as a tool that failed would leave it.
fn failed(message: String) -> Ran {
    Ran {
        status: 255,
        stdout: String::new(),
        stderr: message,
    }
}

fn done(stdout: String) -> Ran {
    Ran {
        status: 0,
        stdout,
        stderr: String::new(),
    }
}

/// Path segments as the API takes them (a UPID has `:`, `!` and `@`).
fn segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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

    fn scoped() -> Option<Scope> {
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

    /// The node holding `vmid`, asking the cluster when this run has not seen it.
    fn node_of(&self, vmid: u32, log: &mut Log) -> Result<String, String> {
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

    fn members(&self, log: &mut Log) -> Result<Members, String> {
        let mut m = self
            .members
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(m) = &*m {
            return Ok(m.clone());
        }
        let status = self
            .client
            .call(
                Method::Get,
                "/cluster/status",
                &Params::Pairs(Vec::new()),
                log,
            )
            .map_err(|f| format!("reading the cluster's nodes: {f}"))?;
        let mut found = Members {
            ips: HashMap::new(),
            local: None,
            online: Vec::new(),
        };
        for n in status.as_array().into_iter().flatten() {
            if n.get("type").and_then(Value::as_str) != Some("node") {
                continue;
            }
            let (Some(name), Some(ip)) = (
                n.get("name").and_then(Value::as_str),
                n.get("ip").and_then(Value::as_str),
            ) else {
                continue;
            };
            if n.get("local").and_then(Value::as_u64) == Some(1) {
                found.local = Some(name.to_string());
            }
            if n.get("online").and_then(Value::as_u64) == Some(1) {
                found.online.push(name.to_string());
            }
            found.ips.insert(name.to_string(), ip.to_string());
        }
        *m = Some(found.clone());
        Ok(found)
    }

    /// The online nodes of the cluster, by name (`/cluster/status`, read once).
    pub fn online_nodes(&self, log: &mut Log) -> Result<Vec<String>, OpError> {
        let m = self.members(log).map_err(OpError::new)?;
        let mut nodes: Vec<String> = m.online.into_iter().collect();
        nodes.sort();
        Ok(nodes)
    }

    /// The runner of a shell on `node` (over ssh to its cluster address).
    fn shell_on(&self, node: Option<&str>, log: &mut Log) -> Result<(String, Runner), OpError> {
        let members = self.members(log).map_err(OpError::new)?;
        let node = match node {
            Some(n) => n.to_string(),
            None => members.local.clone().ok_or_else(|| {
                OpError::new("the cluster names no node as the one answering (`local`)")
            })?,
        };
        let ip = members
            .ips
            .get(&node)
            .ok_or_else(|| OpError::new(format!("node {node} is not a member of the cluster")))?;
        let host = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.clone()
        };
        let target = SshTarget::parse(&format!("{}@{host}", self.ssh.user))
            .map_err(|e| OpError::new(format!("node {node}: {e}")))?;
        Ok((
            node,
            Runner::Ssh {
                target,
                config: self.ssh.config.clone(),
            },
        ))
    }

    /// Where a shell command runs: the node of the guest it names, else of the
    /// guest the operation is about, else the node that answers the API.
    fn shell_node(&self, vmid: Option<u32>, log: &mut Log) -> Result<Option<String>, OpError> {
        let scope = Self::scoped();
        if vmid.is_none()
            && let Some(Scope::Node(node)) = &scope
        {
            return Ok(Some(node.clone()));
        }
        let id = vmid.or(match scope {
            Some(Scope::Guest(w)) => Some(w.vmid),
            _ => None,
        });
        match id {
            Some(id) => match self.node_of(id, log) {
                Ok(n) => Ok(Some(n)),
                // Not there yet (an image fetched before its VM is created): where
                // it is going.
                Err(_) if vmid.is_none() => self.place(id, log).map(|p| Some(p.node)),
                Err(e) => Err(OpError::new(e)),
            },
            None => Ok(None),
        }
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
    /// `timeout` that [`Runner::check_script`] adds).
    pub fn is_shell(cmd: &Cmd) -> bool {
        matches!(route(cmd), Route::Shell { .. })
    }

    /// Where the guest `vmid` goes: by the wish of the guest the operation is
    /// about (see [`Cluster::scope`]).
    fn place(&self, vmid: u32, log: &mut Log) -> Result<Placed, OpError> {
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
                return failed(format!(
                    "{} {path}: {}",
                    method.as_str(),
                    f.message_for_tool()
                ));
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

    /// A task slot on `node`, held until the guard is dropped.
    fn slot(&self, node: Option<&str>) -> Option<SlotGuard<'_>> {
        let node = node?.to_string();
        let (lock, cv) = &self.busy;
        let mut busy = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while busy.get(&node).copied().unwrap_or(0) >= TASKS_PER_NODE {
            busy = cv
                .wait(busy)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *busy.entry(node.clone()).or_default() += 1;
        Some(SlotGuard {
            cluster: self,
            node,
        })
    }

    /// Poll a task until it stops; its log into the node log when it failed.
    /// `OK` and `WARNINGS: n` are success (pve-common `PVE::Tools::upid_status_is_error`).
    fn wait_task(&self, upid: &str, timeout: Duration, log: &mut Log) -> Result<(), String> {
        let node = upid.split(':').nth(1).unwrap_or_default().to_string();
        let base = format!("/nodes/{node}/tasks/{}", segment(upid));
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        let mut sink = Log::sink();
        loop {
            let status = self
                .client
                .call(
                    Method::Get,
                    &format!("{base}/status"),
                    &Params::Pairs(Vec::new()),
                    &mut sink,
                )
                .map_err(|f| format!("task {upid}: {f}"))?;
            if status.get("status").and_then(Value::as_str) == Some("stopped") {
                let exit = status
                    .get("exitstatus")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string();
                if exit == "OK" || exit.starts_with("WARNINGS: ") {
                    log.raw(format!("< task {upid}: {exit}\n").as_bytes());
                    return Ok(());
                }
                let lines = self.task_log(&base, log);
                let tail: Vec<&str> = lines
                    .iter()
                    .rev()
                    .take(3)
                    .rev()
                    .map(String::as_str)
                    .collect();
                return Err(format!(
                    "task {upid} failed: {exit}{}",
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!(" (task log: {})", tail.join(" / "))
                    }
                ));
            }
            if crate::backend::command::aborted() {
                return Err(format!("task {upid}: phoenix was interrupted while it ran"));
            }
            if started.elapsed() > timeout {
                return Err(format!(
                    "task {upid} did not finish within {}s; it may still be running on {node}",
                    timeout.as_secs()
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// A task's whole log, written into the node log.
    fn task_log(&self, base: &str, log: &mut Log) -> Vec<String> {
        let mut lines = Vec::new();
        let mut start = 0u64;
        loop {
            let page = self.client.call(
                Method::Get,
                &format!("{base}/log"),
                &Params::Pairs(vec![
                    ("start".into(), start.to_string()),
                    ("limit".into(), "500".into()),
                ]),
                &mut Log::sink(),
            );
            let Ok(Value::Array(page)) = page else { break };
            if page.is_empty() {
                break;
            }
            for l in &page {
                let text = l.get("t").and_then(Value::as_str).unwrap_or_default();
                log.raw(format!("  task: {text}\n").as_bytes());
                lines.push(text.to_string());
            }
            start += page.len() as u64;
            if page.len() < 500 {
                break;
            }
        }
        lines
    }

    /// `qm guest exec`: start the command through the agent, then poll its status
    /// until it exits or `wait` passes; printed as `qm` prints it.
    fn agent_exec(
        &self,
        vmid: u32,
        argv: &[String],
        stdin: Option<&[u8]>,
        wait: Duration,
        log: &mut Log,
    ) -> Ran {
        let node = match self.node_of(vmid, log) {
            Ok(n) => n,
            Err(e) => return failed(e),
        };
        let base = format!("/nodes/{node}/qemu/{vmid}/agent");
        let mut body = serde_json::json!({ "command": argv });
        if let Some(input) = stdin {
            body["input-data"] = Value::String(String::from_utf8_lossy(input).into_owned());
        }
        let started = match self.client.call(
            Method::Post,
            &format!("{base}/exec"),
            &Params::Json(body),
            log,
        ) {
            Ok(v) => v,
            Err(f) => return failed(format!("POST {base}/exec: {}", f.message_for_tool())),
        };
        let Some(pid) = started.get("pid").and_then(Value::as_u64) else {
            return failed(format!("POST {base}/exec: no pid in the answer {started}"));
        };
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(50);
        loop {
            let status = match self.client.call(
                Method::Get,
                &format!("{base}/exec-status"),
                &Params::Pairs(vec![("pid".into(), pid.to_string())]),
                &mut Log::sink(),
            ) {
                Ok(v) => v,
                Err(f) => {
                    return failed(format!("GET {base}/exec-status: {}", f.message_for_tool()));
                }
            };
            if status.get("exited").and_then(Value::as_i64) == Some(1) || Instant::now() > deadline
            {
                let mut shown = status;
                if shown.get("exited").is_none() {
                    shown["exited"] = Value::from(0);
                    shown["pid"] = Value::from(pid);
                }
                return done(shown.to_string());
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
}

/// A task slot of one node (see [`Cluster::slot`]).
struct SlotGuard<'a> {
    cluster: &'a Cluster,
    node: String,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let (lock, cv) = &self.cluster.busy;
        let mut busy = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = busy.get_mut(&self.node) {
            *n = n.saturating_sub(1);
        }
        cv.notify_all();
    }
}

/// The node a `/nodes/{node}/...` path names.
fn node_in(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/nodes/")?;
    rest.split('/').next().map(str::to_string)
}

impl Failure {
    /// The message as the step's error shows it: Proxmox's lock errors keep their
    /// words, so the executor retries them as it retries `pct`'s.
    fn message_for_tool(&self) -> String {
        self.to_string()
    }
}

impl Kind {
    /// The kind of a guest from its definition.
    pub fn of(kind: crate::defs::GuestKind) -> Kind {
        match kind {
            crate::defs::GuestKind::Ct => Kind::Lxc,
            crate::defs::GuestKind::Vm => Kind::Qemu,
        }
    }
}
