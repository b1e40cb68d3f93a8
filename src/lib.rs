//! phoenix: a build system for Proxmox VE hosts.
//!
//! Pipeline: [`defs::load`] → [`graph::build`] → [`key::assess`] → [`plan::make`]
//! (→ execution, in a later stage). Only `defs`, `state`, `backend` and `report`
//! touch the outside world; everything else is tested from in-memory input.

pub mod app;
mod ascii;
pub mod backend;
pub mod cli;
pub mod defs;
pub mod exec;
pub mod exit_codes;
pub mod fasthash;
pub mod fsutil;
pub mod graph;
pub mod inventory;
pub mod json_text;
pub mod key;
pub mod live;
pub mod pipeline;
pub mod plan;
pub mod report;
pub mod state;
pub mod step;
pub mod timing;
