//! Documented exit codes. Scripts and CI can tell "the build failed" from "the
//! definitions are wrong" from "phoenix could not run".

/// Everything worked.
pub const OK: i32 = 0;
/// A command ran and found failures (e.g. a build step failed).
pub const FAILED: i32 = 1;
/// Bad command line: unknown flag or target.
pub const USAGE: i32 = 2;
/// The definitions have errors.
pub const INVALID_DEFINITIONS: i32 = 3;
/// phoenix could not do its job: state directory or backend problem.
pub const ENVIRONMENT: i32 = 4;
