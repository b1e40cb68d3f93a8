//! The cluster's nodes as the runner needs them: their addresses (from
//! `/cluster/status`), a shell on one of them over ssh, which node a shell
//! command concerns, and each node's task slots.

use std::collections::HashMap;

use serde_json::Value;

use super::cluster::{Cluster, Scope, TASKS_PER_NODE};
use super::http::{Method, Params};
use crate::backend::pve::runner::{Runner, SshTarget};
use crate::backend::{Log, OpError};

#[derive(Debug, Clone)]
pub(super) struct Members {
    pub(super) ips: HashMap<String, String>,
    pub(super) local: Option<String>,
    pub(super) online: Vec<String>,
}

impl Cluster {
    pub(super) fn members(&self, log: &mut Log) -> Result<Members, String> {
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
    pub(super) fn shell_on(
        &self,
        node: Option<&str>,
        log: &mut Log,
    ) -> Result<(String, Runner), OpError> {
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
    pub(super) fn shell_node(
        &self,
        vmid: Option<u32>,
        log: &mut Log,
    ) -> Result<Option<String>, OpError> {
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

    /// A task slot on `node`, held until the guard is dropped.
    pub(super) fn slot(&self, node: Option<&str>) -> Option<SlotGuard<'_>> {
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
}

/// A task slot of one node (see [`Cluster::slot`]).
pub(super) struct SlotGuard<'a> {
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
