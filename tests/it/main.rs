//! The one integration test binary: runs the real `phoenix` executable on real
//! definition trees (the shared fixtures, the bundled graph-defs, broken corpora).

#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on the first surprise"
)]

mod helpers;

mod api_backend;
mod api_standin;
mod bench_pair;
mod broken;
mod build_sim;
mod check;
mod e2e_lxc;
mod e2e_lxc_guests;
mod e2e_lxc_operate;
mod e2e_lxc_templates;
mod eras;
mod fixture_plans;
mod fixtures;
mod golden_keys;
mod graph_views;
mod interrupt;
mod keys;
mod layers;
mod lxc_observe;
mod no_panic;
mod operate;
mod pve;
mod pve_standin;
mod schema;
mod ssh;
mod state_loss;
