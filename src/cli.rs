//! Command-line definitions (clap derive). The doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::backend::pve::SshTarget;

mod api;
mod build;
mod check;
mod graph;
mod operate;

/// The `--backend` values, defined where backends are chosen.
pub use crate::backend::select::Kind as BackendKind;
pub use api::ApiArgs;
pub use build::{BuildArgs, RetryArgs, StepArgs};
pub use check::CheckArgs;
pub use graph::{ColorChoice, GraphArgs, GraphFormat, GraphLayout};
pub use operate::{RestartArgs, RunArgs, SetupArgs, ShutdownArgs, StartArgs, StopArgs, UpArgs};

/// phoenix: a build system for Proxmox VE hosts.
///
/// phoenix reads container, VM and host definitions (the Phoenix JSON format), turns
/// them into one dependency graph, gives every build step a content key, and runs
/// only the steps whose inputs changed, independent branches in parallel.
///
/// Examples:
///   phoenix validate                 check the definitions, report every problem
///   phoenix plan 950                 what building 950 would do, and why
///   phoenix graph --format mermaid   the dependency graph as a Mermaid diagram
///   phoenix explain 950              which inputs of 950 changed since its last build
///   phoenix build all                build everything that is stale, in parallel
///   phoenix status                   what a build would do to each node, and when it last ran
#[derive(Debug, Parser)]
#[command(
    name = "phoenix",
    version,
    propagate_version = true,
    max_term_width = 100,
    verbatim_doc_comment
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Definitions directory (native layout, or an install with etc/ and bin/).
    #[arg(
        long,
        global = true,
        env = "PHOENIX_DEFS",
        default_value = "./graph-defs",
        value_name = "DIR"
    )]
    pub defs: PathBuf,

    /// State directory: recorded keys and input manifests, lock, logs.
    #[arg(
        long,
        global = true,
        env = "PHOENIX_CACHE",
        default_value = "./cache",
        value_name = "DIR"
    )]
    pub cache: PathBuf,

    /// Where side effects go: `auto` (api where --api is given, pve where `pct`
    /// exists or --host is given, else lxc), `lxc`, `pve`, `api` (a Proxmox cluster
    /// through its REST API), `sim`, `dry-run`. `plan`, `graph` and `explain` use the
    /// recorded state unless a backend is named.
    #[arg(long, global = true, env = "PHOENIX_BACKEND", value_enum)]
    pub backend: Option<BackendKind>,

    /// pve backend: run pct/qm/pvesh on this Proxmox host over ssh instead of locally:
    /// `root@pve`, `root@pve:2222` or `ssh://root@pve:2222`. ssh runs in batch mode
    /// (keys, no prompts); see --ssh-config.
    #[arg(
        long,
        global = true,
        env = "PHOENIX_HOST",
        value_name = "USER@HOST[:PORT]",
        value_parser = SshTarget::parse
    )]
    pub host: Option<SshTarget>,

    /// lxc backend: the LXC path holding phoenix's containers.
    #[arg(
        long,
        global = true,
        env = "PHOENIX_LXCPATH",
        default_value = "/var/lib/lxc",
        value_name = "DIR"
    )]
    pub lxcpath: PathBuf,

    /// lxc backend: container names are PREFIX + ID; phoenix lists and touches no others.
    #[arg(
        long,
        global = true,
        env = "PHOENIX_PREFIX",
        default_value = "phx-",
        value_name = "PREFIX"
    )]
    pub prefix: String,

    /// sim backend: the directory that holds the simulated host (default: CACHE/sim).
    #[arg(long, global = true, env = "PHOENIX_SIM_DIR", value_name = "DIR")]
    pub sim_dir: Option<PathBuf>,

    /// pve backend: an ssh config file for --host (`ssh -F`): identity, known hosts,
    /// `ControlMaster auto` to reuse one connection.
    #[arg(long, global = true, env = "PHOENIX_SSH_CONFIG", value_name = "FILE")]
    pub ssh_config: Option<String>,

    /// pve backend: where cloud images are kept on the Proxmox host.
    #[arg(
        long,
        global = true,
        env = "PHOENIX_PVE_IMAGE_DIR",
        default_value = "/var/lib/vz/template/cache",
        value_name = "DIR",
        help_heading = "Tuning and testing"
    )]
    pub pve_image_dir: String,

    /// pve backend: a directory that stands for `/` when phoenix edits files on the
    /// host (`/etc/exports`, its storage ledger); for tests against stand-in tools.
    #[arg(
        long,
        global = true,
        env = "PHOENIX_PVE_ROOT",
        default_value = "",
        hide_default_value = true,
        value_name = "DIR",
        help_heading = "Tuning and testing"
    )]
    pub pve_root: String,

    /// sim backend: milliseconds added to every simulated operation.
    #[arg(
        long,
        global = true,
        env = "PHOENIX_SIM_LATENCY_MS",
        default_value_t = 0,
        value_name = "MS",
        help_heading = "Tuning and testing"
    )]
    pub sim_latency_ms: u64,

    /// sim backend: really run the scripts (`sh script args`) on this machine.
    #[arg(
        long,
        global = true,
        env = "PHOENIX_SIM_EXEC",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new(),
        help_heading = "Tuning and testing"
    )]
    pub sim_exec: bool,

    /// Diagnostics filter in tracing's syntax (`phoenix=debug`); overrides -v.
    #[arg(
        long = "log-filter",
        global = true,
        env = "PHOENIX_LOG",
        value_name = "FILTER"
    )]
    pub log_filter: Option<String>,

    /// More diagnostics on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, env = "PHOENIX_VERBOSE")]
    pub verbose: u8,

    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the definitions and report every problem at once.
    ///
    /// Errors name the file, the JSON path and what would fix them; unknown fields
    /// are warnings (they still reach application scripts). Exit code 3 when there
    /// is any error.
    Validate {
        #[arg(long, value_enum, default_value_t = Output::Text, env = "PHOENIX_OUTPUT")]
        output: Output,
    },

    /// Show what a build would do, and why, without doing anything.
    ///
    /// Every selected node gets one action: create, replace, resume, update,
    /// rerun-app, resnapshot or fresh, with the reasons (the inputs that changed).
    ///
    ///   phoenix plan            everything
    ///   phoenix plan 950        950 and what it needs (templates, host steps)
    ///   phoenix plan --output json | jq '.actions[] | select(.action != "fresh")'
    #[command(verbatim_doc_comment)]
    Plan {
        /// Targets: `all`, a guest ID (`950`), or a node (`ct:950`, `vm:9000`, `host:zfs`).
        #[arg(value_name = "TARGET")]
        targets: Vec<String>,

        #[arg(long, value_enum, default_value_t = Output::Text, env = "PHOENIX_OUTPUT")]
        output: Output,

        /// Read each managed guest's live config from the host (one inventory call,
        /// then one read per guest, a few at a time) and plan what changed outside
        /// phoenix as an update that restores the definition. Without it, planning
        /// stays offline.
        #[arg(long)]
        refresh: bool,
    },

    /// Print the dependency graph.
    ///
    /// Edges: clone (the clone's content depends on its source), depends (build and
    /// start order only), host (a host setup step comes first).
    ///
    /// Formats:
    ///   tree     each guest with the template chain it is cloned from, like `cargo
    ///            tree`; other needs on the line: `(depends: vm:1002; host: gpu_init)`.
    ///            A node shown before is `ct:901 (*)`. Coloured by state on a terminal:
    ///            fresh, stale (a build would change it), missing, failed (the last
    ///            build stopped in it). The default on a terminal.
    ///   text     one line per node with everything it needs. The default when piped.
    ///   html     one self-contained page: the graph drawn (by Graphviz `dot` where
    ///            installed, else built in), coloured by state; click a node for its
    ///            steps, key and why a build would touch it; filter by id or name.
    ///   dot, mermaid, json
    ///            for Graphviz, Mermaid (Markdown, GitHub) and scripts.
    ///
    /// tree, dot, mermaid and html leave out the host edges a clone inherits from its
    /// source (--all-edges draws them); text and json list every edge.
    ///
    /// Examples:
    ///   phoenix graph                                  the tree (on a terminal)
    ///   phoenix graph 950 --state --color never        950's chain, states in words
    ///   phoenix graph --format html > graph.html       then open graph.html in a browser
    ///   phoenix graph --format dot | dot -Tsvg > graph.svg
    ///   phoenix graph 950 --format mermaid --state
    #[command(verbatim_doc_comment)]
    Graph(GraphArgs),

    /// Say which inputs of a node differ from its last build, old and new value.
    Explain {
        /// A guest ID (`950`) or node (`ct:950`, `host:zfs`).
        target: String,
    },

    /// Build the targets and what they need, running only stale steps.
    ///
    /// Independent branches run in parallel (`-j`). A failing step fails its guest and
    /// skips what needs it; everything else goes on, and the next build resumes at the
    /// failed step. State is recorded after every step, so an interrupted build
    /// (Ctrl-C, kill -9) resumes where it stopped.
    ///
    ///   phoenix build all
    ///   phoenix build 950 -j 8
    ///   phoenix build 950 --force 950         rebuild 950 although it is fresh
    ///   phoenix build all --output json | jq -c 'select(.event == "summary")'
    #[command(verbatim_doc_comment)]
    Build(BuildArgs),

    /// A table of every node: the action a build would take, its key, when it was built.
    ///
    /// With --live, also what changed outside phoenix on each managed guest: a
    /// setting edited by hand (its recorded and live values), a firewall rule
    /// deleted, the guest stopped, its template snapshot deleted, the guest gone.
    Status {
        #[arg(value_name = "TARGET")]
        targets: Vec<String>,

        /// Read each managed guest's live config from the host (see `plan --refresh`).
        #[arg(long)]
        live: bool,
    },

    /// Take over guests that exist on the host but were not built by phoenix (by
    /// the shell tool, say).
    ///
    /// For each target (and what it needs), reads what the guest really is and
    /// compares it with its definition, setting by setting: a table of what
    /// matches, what differs (host → definition), and what cannot be observed
    /// (what the feature and application scripts did inside it). With --yes (or a
    /// yes at the prompt on a terminal) it stamps each guest and records it as
    /// built: what it observed as observed, the scripts' work as done, as you
    /// assert by adopting. The next `phoenix build` then changes only what differs
    /// (one settings update per guest) and runs nothing else. Without --yes and
    /// without a terminal it only prints what it would record.
    ///
    /// Nothing on a guest changes but its stamp. Refused, with the reason: a guest
    /// whose shape is not the definition's (another OS, a linked clone of another
    /// template, a template flag that differs: that is a replace), and an ID that
    /// holds a guest of the other kind.
    ///
    ///   phoenix adopt all              the table for every guest; nothing recorded
    ///   phoenix adopt all --yes        adopt them
    ///   phoenix adopt 950 --yes --rerun-features
    ///                                  adopt 950 and its chain; the next build runs
    ///                                  950's feature scripts again
    #[command(verbatim_doc_comment)]
    Adopt(AdoptArgs),

    /// Run the health checks of the definitions against the running guests.
    ///
    /// Each guest's `health_checks` (its scripts under `health/`, with their
    /// arguments) run inside it, as the build runs them after the application
    /// script: a few at a time (`-j`), each stopped after --timeout. Only the named
    /// guests are checked (not what they need); templates never run and have none
    /// to run. A guest phoenix did not build is skipped; a guest that is not running
    /// fails its checks ("not running": it is not started).
    ///
    /// Prints a table: check, guest, result (pass, fail, timeout, skipped), time and
    /// the last line the check printed (secrets redacted); the whole output goes to
    /// the guest's log (`phoenix logs 950`). Exit code 1 when a check fails or times
    /// out, 0 when all pass. For cron and monitoring: no progress bar unless on a
    /// terminal, and nothing on stderr when every check passes. While a build
    /// drives the same LXC path or simulated host, it is refused (exit 4).
    ///
    ///   phoenix check all
    ///   phoenix check 950 102 --timeout 30
    ///   phoenix check all --output json | jq -c 'select(.result != "pass")'
    #[command(verbatim_doc_comment)]
    Check(CheckArgs),

    /// Print a node's log: every command phoenix ran for it, with its output.
    Logs {
        target: String,
    },

    /// Destroy guests phoenix built (dependents first, templates last).
    ///
    /// Only guests phoenix created (they carry its stamp) are touched. Asks for
    /// confirmation unless --yes.
    Destroy {
        #[arg(value_name = "TARGET", required = true)]
        targets: Vec<String>,

        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
    },

    // The operating commands' help is their options' doc comment (`cli::operate`).
    Start(StartArgs),
    Stop(StopArgs),
    Restart(RestartArgs),
    Up(UpArgs),
    Setup(SetupArgs),
}

/// `phoenix adopt`'s options.
#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// Targets: `all`, a guest ID, or a node; what they need is adopted too.
    #[arg(value_name = "TARGET", required = true)]
    pub targets: Vec<String>,

    /// Adopt without asking.
    #[arg(long, short)]
    pub yes: bool,

    /// Record the guests' feature steps (and what follows them) as not done, so
    /// the next build runs them on the adopted guests.
    #[arg(long)]
    pub rerun_features: bool,

    /// `json`: one line per node with the comparison and what is recorded.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "PHOENIX_OUTPUT")]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_step_timeout_of_zero_is_refused() {
        let parse = |t: &str| Cli::try_parse_from(["phoenix", "build", "all", "--step-timeout", t]);
        let err = parse("0").unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(
            err.to_string().contains("0 seconds would stop every step"),
            "{err}"
        );
        assert!(parse("-1").is_err());
        assert!(parse("1").is_ok());
    }
}
