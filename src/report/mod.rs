//! Everything phoenix prints for people and machines: diagnostics, plans, graphs,
//! explanations, and a build's progress and summary. Renderers return strings (or
//! consume events) so they are tested without a terminal; tables go through
//! [`table`].

pub mod build;
mod diagnostics;
pub mod explain;
pub mod graph;
pub mod json;
pub mod plan;
pub mod table;

pub use diagnostics::{diagnostics, plural};
