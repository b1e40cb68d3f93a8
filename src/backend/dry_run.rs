//! The dry-run backend: runs nothing, says what it would do.

use std::time::Duration;

use super::{Backend, BackendError, GuestCtx, HostStep, Inventory, Log, OpResult, Script};
use crate::defs::GuestKind;

/// Runs nothing and observes an empty host. A planning dry run (`plan`,
/// `build --dry-run`) does not ask it: the pipeline takes the host the state
/// directory recorded instead ([`crate::inventory::from_records`]).
#[derive(Debug, Default)]
pub struct DryRun;

impl Backend for DryRun {
    fn name(&self) -> &'static str {
        "dry-run"
    }

    fn inventory(&self) -> Result<Inventory, BackendError> {
        Ok(Inventory::default())
    }

    fn supports(&self, _: GuestKind) -> bool {
        true
    }

    fn create(&self, g: &GuestCtx, _: &str, log: &mut Log) -> OpResult {
        log.note(&format!("would create {}", g.node));
        Ok(())
    }

    fn destroy(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        log.note(&format!("would destroy {}", g.node));
        Ok(())
    }

    fn configure(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        log.note(&format!("would configure {}", g.node));
        Ok(())
    }

    fn start(&self, _: &GuestCtx, _: &mut Log) -> OpResult {
        Ok(())
    }

    fn stop(&self, _: &GuestCtx, _: &mut Log) -> OpResult {
        Ok(())
    }

    fn snapshot(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        log.note(&format!("would snapshot {} as {name}", g.node));
        Ok(())
    }

    fn rollback(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        log.note(&format!("would roll {} back to {name}", g.node));
        Ok(())
    }

    fn template(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        log.note(&format!("would convert {} into a template", g.node));
        Ok(())
    }

    fn exec(&self, g: &GuestCtx, script: &Script, log: &mut Log) -> OpResult {
        log.note(&format!("would run {} in {}", script.name, g.node));
        Ok(())
    }

    fn stamp(&self, _: &GuestCtx, _: &str, _: &mut Log) -> OpResult {
        Ok(())
    }

    fn host(&self, script: &Script, _: Duration, log: &mut Log) -> OpResult {
        log.note(&format!("would run {} on the host", script.name));
        Ok(())
    }

    fn supports_builtin_host(&self) -> bool {
        true
    }

    fn host_builtin(&self, step: &HostStep, log: &mut Log) -> OpResult {
        log.note(&format!("would carry out host step {}", step.name));
        Ok(())
    }
}
