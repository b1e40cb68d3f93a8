//! `phoenix check`'s options.

use clap::Args;

use super::Output;

/// `phoenix check`'s options.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Targets: `all` (every guest with health checks; the default), a guest ID
    /// (`950`) or a node (`ct:950`). Only the named guests are checked, not what
    /// they need.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Checks to run at the same time.
    #[arg(short, long, env = "PHOENIX_JOBS", default_value_t = 4)]
    pub jobs: usize,

    /// Seconds before a check is stopped and reported as `timeout` (at least 1).
    #[arg(
        long,
        default_value_t = 60,
        value_name = "SECONDS",
        value_parser = seconds
    )]
    pub timeout: u64,

    /// A table on stdout; `json`: one line per check, then a summary line.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "PHOENIX_OUTPUT")]
    pub output: Output,

    /// List the checks that would run, and run none (the host is not asked).
    #[arg(long)]
    pub dry_run: bool,

    /// A check that failed to start is run again, up to four more times, as a
    /// build's step is.
    #[command(flatten)]
    pub retry: super::build::RetryArgs,
}

/// `--timeout`: a whole number of seconds above 0.
fn seconds(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("0 seconds would stop every check at once; give the seconds a check may take, e.g. 60 (the default)".into()),
        Ok(seconds) => Ok(seconds),
        Err(_) => Err(format!("`{text}` is not a whole number of seconds, e.g. 60")),
    }
}
