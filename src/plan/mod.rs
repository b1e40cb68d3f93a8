//! The plan: desired keys vs recorded keys vs what the host has → one action per node.
//!
//! Pure: no I/O. For each selected node, in build order:
//!
//! * **create**: never built, or recorded but gone from the host;
//! * **replace**: the `define` step changed (shape field, clone source, snapshot):
//!   destroy and re-create. A guest that is not a template needs `--allow-replace`;
//! * **resume**: a feature step changed (roll back to the snapshot before it and run
//!   from there), or an earlier build stopped part way;
//! * **rerun-app**: only the application step (script, health checks, app fields) changed;
//! * **resnapshot**: only the snapshot step changed;
//! * **update**: content is current but settings changed (`pct set` in place); also a
//!   host step whose inputs changed;
//! * **fresh**: nothing to do.
//!
//! Content and settings are independent: a content action also lists `configure`
//! when the settings changed. Reasons come from diffing the recorded input manifest
//! with the desired one; a clone whose source changed repeats the source's reason.
//!
//! How it works: nodes are planned in build order, so a clone's source has its
//! reasons already when the clone is planned. A guest that exists on the host
//! without phoenix's stamp goes to [`Plan::foreign`] and gets no action. For a
//! guest that exists, the stamp decides what the plan is made from (`recover`):
//! the record while the stamp agrees with it, otherwise a record rebuilt from
//! what the stamp proves, kept in [`Plan::recovered`] ("stamp on guest differs
//! from the record" opens the reasons where a record was overruled). A lost or
//! damaged state directory never makes a guest look replaced: only a provably
//! changed `define` does. From the record, the first content step whose recorded
//! key differs from the desired one picks the action (step 0 `define` → replace,
//! a feature → resume, `app` → rerun-app, the snapshot → resnapshot), and the
//! steps to run are that step and all after it. A guest converted to a template
//! cannot change in place, so any content change replaces it; its linked clones
//! on the host are destroyed first (`linked`).
//!
//! Layout: `action` (the [`Plan`] types), `make` (the rules), `drift` (what
//! changed outside phoenix, from the live config, as staleness), `linked` (linked
//! clones destroyed before their template), `recover` (what a
//! guest's stamp proves when the record is missing or contradicted), `reasons`
//! (manifest diffs in words) and `explain` (the per-step comparison behind
//! `phoenix explain`).

mod action;
pub mod drift;
mod explain;
mod linked;
mod make;
mod reasons;
mod recover;
#[cfg(test)]
mod tests;

pub use action::{Action, ActionKind, Plan, Recovered};
pub use explain::{StepDiff, explain};
pub use linked::{LINKED_FIRST, order_teardown};
pub use make::{GuestFacts, MISSING, all_steps, make};
pub use reasons::{Upstream, diff};
pub use recover::STAMP_DIFFERS;
