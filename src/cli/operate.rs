//! The options of the commands that operate the guests phoenix built: `start`,
//! `stop`, `restart`, `up`, and `setup`.

use clap::Args;

use super::Output;

/// What `start`, `stop` and `restart` share.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Guests to start (or stop) at the same time, within one boot-order group.
    #[arg(short, long, env = "PHOENIX_JOBS", default_value_t = 4)]
    pub jobs: usize,

    /// Print what would be done, in order, and do nothing. With a named backend
    /// (`--backend lxc`) it reads which guests run; otherwise it lists the order.
    #[arg(long)]
    pub dry_run: bool,

    /// Progress bars on a terminal, plain lines otherwise; `json` for the same
    /// newline-delimited events as `build`.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "PHOENIX_OUTPUT")]
    pub output: Output,
}

/// How a guest is stopped.
#[derive(Debug, Args)]
pub struct ShutdownArgs {
    /// Seconds each guest gets to shut down cleanly (its OS powers off); at least 1.
    #[arg(long, default_value_t = 60, value_name = "SECONDS", value_parser = shutdown_timeout)]
    pub timeout: u64,

    /// Kill a guest that is still running after --timeout. Without it, such a
    /// guest keeps running and fails the command, and what it depends on is not
    /// stopped.
    #[arg(long)]
    pub force: bool,
}

/// Start guests phoenix built, after the guests they depend on, in boot order.
///
/// What the targets depend on (`dependencies`, transitively) starts first; the
/// templates they are cloned from never start, nor does any template named. Guests
/// that may start together go by boot order (`start_at_boot` first, by
/// `boot_order`, ties by ID), each group after the one before runs and its
/// `boot_delay` has passed. A running guest is left alone, and so is a guest
/// without phoenix's stamp.
///
///   phoenix start all
///   phoenix start 801              1002's chain first, then 801
///   phoenix start 801 --no-deps    801 alone
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct StartArgs {
    /// Targets: `all`, a guest ID (`950`), or a guest (`ct:950`); all when empty.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Start only the targets, not the guests they depend on.
    #[arg(long)]
    pub no_deps: bool,

    /// Start each boot-order group as soon as the one before runs, without
    /// waiting its guests' `boot_delay`.
    #[arg(long)]
    pub no_boot_delay: bool,

    #[command(flatten)]
    pub run: RunArgs,
}

/// Stop guests cleanly, after the guests that depend on them.
///
/// What depends on the targets (transitively) stops first, the reverse of the
/// start order; what they depend on keeps running. Each guest gets --timeout
/// seconds to shut down; --force kills it then. Guests without phoenix's stamp
/// are left alone.
///
///   phoenix stop 103               101 and 102 (which need 103), then 103
///   phoenix stop all --timeout 30 --force
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct StopArgs {
    /// Targets: `all`, a guest ID, or a guest. What depends on them stops first.
    #[arg(value_name = "TARGET", required = true)]
    pub targets: Vec<String>,

    #[command(flatten)]
    pub shutdown: ShutdownArgs,

    #[command(flatten)]
    pub run: RunArgs,
}

/// Stop as `stop` does, then start what was stopped (and the targets) as
/// `start` does.
#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Targets: `all`, a guest ID, or a guest.
    #[arg(value_name = "TARGET", required = true)]
    pub targets: Vec<String>,

    #[command(flatten)]
    pub shutdown: ShutdownArgs,

    /// Start each boot-order group without waiting its guests' `boot_delay`.
    #[arg(long)]
    pub no_boot_delay: bool,

    #[command(flatten)]
    pub run: RunArgs,
}

/// Bring everything up: `build all`, then `start all` in boot order.
///
/// Once each guest with `trigger_sync_on_completion: true` runs, the definitions'
/// sync hook runs on the host for it: `hooks/sync.sh` (in a shell tool install,
/// `bin/managers/portainer-manager.sh sync all --config <hypervisor file>`). One
/// summary at the end. Takes `build`'s options and `start`'s --no-boot-delay.
#[derive(Debug, Args)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "each bool is an independent command-line flag"
)]
pub struct UpArgs {
    /// Steps (and then guests) to run at the same time.
    #[arg(short, long, env = "PHOENIX_JOBS", default_value_t = 4)]
    pub jobs: usize,

    /// Stop starting new work after the first failure of the build.
    #[arg(long)]
    pub fail_fast: bool,

    /// Allow destroying and re-creating guests that are not templates.
    #[arg(long)]
    pub allow_replace: bool,

    /// Let host:zfs erase disks that hold data (see `build --wipe-disks`).
    #[arg(long)]
    pub wipe_disks: bool,

    /// Start each boot-order group without waiting its guests' `boot_delay`.
    #[arg(long)]
    pub no_boot_delay: bool,

    /// Print the build's plan and the start order, and do nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub steps: super::StepArgs,
}

/// Set up the host: `build` of the host steps only (`host:*`).
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Let host:zfs erase disks that hold data (see `build --wipe-disks`).
    #[arg(long)]
    pub wipe_disks: bool,

    /// Host steps to run at the same time.
    #[arg(short, long, env = "PHOENIX_JOBS", default_value_t = 4)]
    pub jobs: usize,

    /// Stop starting new work after the first failure.
    #[arg(long)]
    pub fail_fast: bool,

    /// Print the plan and run nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub steps: super::StepArgs,
}

/// `--timeout`: whole seconds above 0. With 0, `lxc-stop` and Proxmox only send
/// the request and return at once, which is not a shutdown that finished.
fn shutdown_timeout(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("0 seconds would not wait for the shutdown at all; give at least 1 (default 60), and --force to kill what is still running then".into()),
        Ok(seconds) => Ok(seconds),
        Err(_) => Err(format!("`{text}` is not a whole number of seconds, e.g. 60")),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::Cli;

    #[test]
    fn a_shutdown_timeout_of_zero_is_refused_and_stop_needs_targets() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["phoenix"], args].concat());
        let err = parse(&["stop", "103", "--timeout", "0"]).unwrap_err();
        assert!(err.to_string().contains("would not wait"), "{err}");
        assert!(parse(&["stop", "103", "--timeout", "1", "--force"]).is_ok());
        assert!(
            parse(&["stop"]).is_err(),
            "stop takes targets (`all` for all)"
        );
        assert!(parse(&["restart"]).is_err());
        assert!(
            parse(&["start"]).is_ok(),
            "start without targets starts all"
        );
        assert!(parse(&["up", "--wipe-disks", "--no-boot-delay"]).is_ok());
        assert!(parse(&["setup", "--wipe-disks", "--dry-run"]).is_ok());
    }
}
