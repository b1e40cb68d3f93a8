//! `phoenix build`'s options, and the step options `up` and `setup` share with it.

use clap::Args;

use super::Output;

/// `phoenix build`'s options.
#[derive(Debug, Args)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "each bool is an independent command-line flag"
)]
pub struct BuildArgs {
    /// Targets: `all`, a guest ID, or a node; all when empty.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Steps to run at the same time (one step at a time per guest).
    #[arg(short, long, env = "PHOENIX_JOBS", default_value_t = 4)]
    pub jobs: usize,

    /// Stop starting new work after the first failure.
    #[arg(long)]
    pub fail_fast: bool,

    /// Allow destroying and re-creating guests that are not templates.
    #[arg(long)]
    pub allow_replace: bool,

    /// Let host:zfs erase disks that hold data (a filesystem, a partition table,
    /// an old pool) before creating a pool on them. Without it such a disk stops
    /// the step and nothing is erased. Disks of a pool, imported or only
    /// importable, are never touched.
    #[arg(long)]
    pub wipe_disks: bool,

    /// Print the plan and run nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Read each managed guest's live config first and bring back what changed
    /// outside phoenix (a setting edited by hand, a deleted firewall rule, a
    /// stopped guest, a deleted template snapshot).
    #[arg(long)]
    pub refresh: bool,

    /// With --refresh: leave guests that changed outside phoenix as they are, with
    /// a warning (they are still rebuilt for changes of their definitions).
    #[arg(long, requires = "refresh")]
    pub keep_drift: bool,

    /// Rebuild this target from scratch although it is fresh (repeatable).
    #[arg(long, value_name = "TARGET")]
    pub force: Vec<String>,

    #[command(flatten)]
    pub steps: StepArgs,
}

/// How the steps of a build run and report: shared by `build`, `up` and `setup`.
#[derive(Debug, Clone, Args)]
pub struct StepArgs {
    /// Seconds before a step is stopped and failed (at least 1).
    #[arg(
        long,
        env = "PHOENIX_STEP_TIMEOUT",
        default_value_t = 1800,
        value_name = "SECONDS",
        value_parser = step_timeout
    )]
    pub step_timeout: u64,

    /// Progress bars on a terminal, plain lines otherwise; `json` for newline-delimited events.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "PHOENIX_OUTPUT")]
    pub output: Output,

    #[command(flatten)]
    pub retry: RetryArgs,
}

/// How long to wait before retrying what failed without doing anything: shared
/// by the steps of a build and by `check`.
#[derive(Debug, Clone, Args)]
pub struct RetryArgs {
    /// Milliseconds before the first retry of a lock error, or of a command that
    /// failed to start in the guest (`lxc-attach` failing before it ran anything);
    /// doubled for each retry.
    #[arg(
        long,
        env = "PHOENIX_RETRY_BACKOFF_MS",
        default_value_t = 500,
        value_name = "MS",
        help_heading = "Tuning"
    )]
    pub retry_backoff_ms: u64,
}

/// `--step-timeout`: a whole number of seconds above 0, since a step that may take
/// no time at all would fail every build.
pub(super) fn step_timeout(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("0 seconds would stop every step at once; give the seconds a step may take, e.g. 1800 (the default)".into()),
        Ok(seconds) => Ok(seconds),
        Err(_) => Err(format!("`{text}` is not a whole number of seconds, e.g. 1800")),
    }
}
