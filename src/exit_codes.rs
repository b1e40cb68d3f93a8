//! Documented exit codes. Scripts and CI can tell "the build failed" from "the
//! definitions are wrong" from "phoenix could not run". [`crate::app::AppError`]
//! maps every error to one of them, in one place.

/// Everything worked.
pub const OK: u8 = 0;
/// A command ran and found failures (e.g. a build step failed).
pub const FAILED: u8 = 1;
/// Bad command line: unknown flag or target.
pub const USAGE: u8 = 2;
/// The definitions have errors.
pub const INVALID_DEFINITIONS: u8 = 3;
/// phoenix could not do its job: state directory or backend problem.
pub const ENVIRONMENT: u8 = 4;
/// Ctrl-C stopped the command (128 + SIGINT, as a shell reports it); a build
/// records what it did first.
pub const INTERRUPTED: u8 = 130;
