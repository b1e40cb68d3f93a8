//! Side effects behind one trait. The planner never runs a command: it reads the
//! backend's inventory, one call for everything, and the executor asks the backend
//! to run steps.
//!
//! This issue ships the **dry-run** backend: it runs nothing and reports an inventory
//! derived from the recorded state (every guest phoenix recorded exists and carries
//! the key it was built with). Real backends (lxc, pve) report what the host has.

use std::collections::HashMap;

use crate::graph::NodeId;
use crate::state::NodeRecord;

/// What the host reports about one guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The key phoenix stamped on the guest when it built it; `None` for a guest
    /// phoenix did not create.
    pub stamped_key: Option<String>,
}

/// Guests that exist on the host. Host steps have no inventory entry.
pub type Inventory = HashMap<NodeId, Observed>;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("backend `{backend}`: {message}")]
    Failed {
        backend: &'static str,
        message: String,
    },
}

pub trait Backend {
    fn name(&self) -> &'static str;
    /// Everything that exists on the host, in one call.
    fn inventory(&self) -> Result<Inventory, BackendError>;
}

/// Runs nothing; its host is what the state directory says was built.
#[derive(Debug, Default)]
pub struct DryRun {
    inventory: Inventory,
}

impl DryRun {
    pub fn from_records<'a>(records: impl IntoIterator<Item = (NodeId, &'a NodeRecord)>) -> DryRun {
        let inventory = records
            .into_iter()
            .filter(|(id, r)| id.guest_id().is_some() && !r.steps.is_empty())
            .map(|(id, r)| {
                (
                    id,
                    Observed {
                        stamped_key: r.last_key().map(str::to_string),
                    },
                )
            })
            .collect();
        DryRun { inventory }
    }
}

impl Backend for DryRun {
    fn name(&self) -> &'static str {
        "dry-run"
    }

    fn inventory(&self) -> Result<Inventory, BackendError> {
        Ok(self.inventory.clone())
    }
}
