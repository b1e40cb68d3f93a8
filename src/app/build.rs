//! `build`, `status`, `logs` and `destroy`: the commands that use a real backend.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use super::{eprint, load, pipeline_error, print};
use crate::backend::lxc::{Lxc, which};
use crate::backend::pve::runner::{Runner, SSH_CONFIG_ENV, SshTarget};
use crate::backend::pve::{Pve, PveOptions};
use crate::backend::sim::Sim;
use crate::backend::{Backend, BackendError, DryRun, GuestCtx, Log, Preview, Stamp, Work};
use crate::cli::{BackendKind, Cli, Command, Output};
use crate::defs::Severity;
use crate::exec::{self, Reporter};
use crate::exit_codes;
use crate::graph::{NodeId, target};
use crate::pipeline::{self, PipelineError};
use crate::plan::{self, ActionKind};
use crate::report;
use crate::state::StateDir;

/// The backend the command line asks for, or the one this machine has.
pub(crate) fn backend(cli: &Cli) -> Result<Box<dyn Backend>, String> {
    let g = &cli.global;
    let pve = || {
        // Stand-in until the CLI declares these (clap `env`): the backend reads no
        // environment itself. An empty ssh config means none, as before.
        let runner = match &g.host {
            None => Runner::Local,
            // The message the backend gave when it parsed `--host` itself.
            Some(host) => Runner::Ssh {
                target: SshTarget::parse(host).map_err(|e| {
                    BackendError::Failed {
                        backend: "pve",
                        message: format!("cannot reach the host: --host: {e}"),
                    }
                    .to_string()
                })?,
                config: std::env::var(SSH_CONFIG_ENV).ok().filter(|c| !c.is_empty()),
            },
        };
        let mut opts = PveOptions::default();
        if let Ok(root) = std::env::var("PHOENIX_PVE_ROOT") {
            opts.root = root;
        }
        if let Ok(dir) = std::env::var("PHOENIX_PVE_IMAGE_DIR") {
            opts.image_dir = dir;
        }
        Pve::new(runner, opts)
            .map(|p| Box::new(p) as Box<dyn Backend>)
            .map_err(|e| e.to_string())
    };
    match g.backend.unwrap_or(BackendKind::Auto) {
        BackendKind::Pve => pve(),
        BackendKind::Auto if g.host.is_some() || which("pct") => pve(),
        BackendKind::Auto | BackendKind::Lxc => {
            if Lxc::available() {
                Ok(Box::new(Lxc::new(&g.lxcpath, &g.prefix)))
            } else {
                Err("no backend found: neither `pct` (Proxmox VE) nor the LXC tools are installed; \
                     install LXC with `apt-get install lxc busybox-static rsync` (or run scripts/setup.sh), \
                     pass --host root@pve to build on a Proxmox host over ssh, \
                     or --backend sim for a simulated host"
                    .into())
            }
        }
        BackendKind::Sim => {
            let dir = g.sim_dir.clone().unwrap_or_else(|| g.cache.join("sim"));
            Sim::new(&dir)
                .map(|s| Box::new(s) as Box<dyn Backend>)
                .map_err(|e| e.to_string())
        }
        BackendKind::DryRun => Ok(Box::new(DryRun::default())),
    }
}

pub(crate) fn build(cli: &Cli) -> i32 {
    let Command::Build {
        targets,
        jobs,
        fail_fast,
        allow_replace,
        wipe_disks,
        dry_run,
        force,
        step_timeout,
        output,
    } = &cli.command
    else {
        return exit_codes::USAGE;
    };
    let Ok(loaded) = load(cli, Severity::Error) else {
        return exit_codes::INVALID_DEFINITIONS;
    };
    let state = StateDir::new(&cli.global.cache);
    let pve_dry_run = *dry_run && cli.global.backend == Some(BackendKind::Pve);
    let backend: Box<dyn Backend> = if *dry_run && (cli.global.backend.is_none() || pve_dry_run) {
        Box::new(DryRun::default())
    } else {
        match backend(cli) {
            Ok(b) => b,
            Err(e) => {
                eprint(&format!("error: {e}\n"));
                return exit_codes::ENVIRONMENT;
            }
        }
    };
    let lock = if *dry_run {
        None
    } else {
        match state.lock() {
            Ok(l) => Some(l),
            Err(e) => {
                eprint(&format!("error: {e}\n"));
                return exit_codes::ENVIRONMENT;
            }
        }
    };
    if lock.is_some() {
        // Readers merge the journal, so it is folded into the node files only once it
        // has grown; a thousand-guest build then never waits for a thousand renames.
        if let Err(e) = state.compact_if_larger(16 << 20) {
            eprint(&format!("error: {e}\n"));
            return exit_codes::ENVIRONMENT;
        }
    }
    let inventory_from = if *dry_run && (cli.global.backend.is_none() || pve_dry_run) {
        None
    } else {
        Some(backend.as_ref())
    };
    let mut assessed = match pipeline::assess_with(&loaded, targets, &state, inventory_from) {
        Ok(a) => a,
        Err(e) => return pipeline_error(&e),
    };
    for f in force {
        let node = match target::resolve(&loaded.defs, &loaded.graph, std::slice::from_ref(f)) {
            Ok(n) if n.len() == 1 => n[0],
            Ok(_) => {
                eprint(&format!("error: --force takes one node, not `{f}`\n"));
                return exit_codes::USAGE;
            }
            Err(e) => return pipeline_error(&PipelineError::Target(e)),
        };
        let Some(keys) = assessed.keys.get(&node) else {
            eprint(&format!(
                "error: --force {f}: {node} is not among the targets\n"
            ));
            return exit_codes::USAGE;
        };
        let steps = plan::all_steps(keys);
        if let Some(a) = assessed.plan.actions.iter_mut().find(|a| a.node == node) {
            a.action = if node.guest_id().is_some() && assessed.inventory.contains_key(&node) {
                ActionKind::Replace
            } else {
                ActionKind::Create
            };
            a.steps = steps;
            a.reasons = vec!["forced with --force".into()];
            a.needs_allow_replace = false;
        }
    }
    if pve_dry_run {
        // The exact command lines, in plan order. The node name is this machine's:
        // the pve backend runs on the Proxmox host itself.
        let node_name = std::fs::read_to_string("/etc/hostname")
            .map_or_else(|_| "pve".to_string(), |h| h.trim().to_string());
        let mut out = String::new();
        for a in assessed.plan.pending() {
            out.push_str(&format!("# {} {}\n", a.action.as_str(), a.node));
            let work = match a.action {
                ActionKind::Create => Work::Create,
                ActionKind::Replace => Work::Replace,
                ActionKind::Update => Work::Update,
                ActionKind::Resume | ActionKind::RerunApp | ActionKind::Resnapshot => Work::Steps,
                ActionKind::Fresh => continue,
            };
            let preview = Preview {
                node: a.node,
                work,
                steps: &a.steps,
                key: &a.key,
            };
            for c in crate::backend::pve::commands::preview(&preview, &loaded.defs, &node_name) {
                out.push_str(&c.display());
                out.push('\n');
            }
        }
        print(&out);
        return exit_codes::OK;
    }
    if *dry_run {
        match output {
            Output::Json => print(&report::plan::json(&assessed.plan)),
            Output::Text => print(&report::plan::text(&assessed.plan, &loaded.defs)),
        }
        return exit_codes::OK;
    }
    let blocked = assessed.plan.blocked_replacements();
    if !blocked.is_empty() && !allow_replace {
        let names: Vec<String> = blocked
            .iter()
            .map(|n| {
                let name = n
                    .guest_id()
                    .and_then(|id| loaded.defs.guest(id))
                    .map(|g| g.name.clone())
                    .unwrap_or_default();
                let why = assessed
                    .plan
                    .action(*n)
                    .and_then(|a| a.reasons.first().cloned())
                    .unwrap_or_default();
                format!("  {n} ({name}): {why}")
            })
            .collect();
        eprint(&format!(
            "error: this build would replace guests that are not templates, destroying their root disks:\n{}\nnothing was changed; run again with --allow-replace to accept\n",
            names.join("\n")
        ));
        return exit_codes::FAILED;
    }
    let opts = exec::Options {
        jobs: (*jobs).max(1),
        fail_fast: *fail_fast,
        step_timeout: Duration::from_secs(*step_timeout),
        backoff: std::env::var("PHOENIX_RETRY_BACKOFF_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(Duration::from_millis(500), Duration::from_millis),
        wipe_disks: *wipe_disks,
        ..exec::Options::default()
    };
    let journal = match state.journal() {
        Ok(j) => j,
        Err(e) => {
            eprint(&format!("error: {e}\n"));
            return exit_codes::ENVIRONMENT;
        }
    };
    let mut reporter: Box<dyn Reporter> = match output {
        Output::Json => Box::new(exec::report::Json::default()),
        Output::Text if exec::is_terminal_stderr() => Box::new(exec::report::Progress::new()),
        Output::Text => Box::new(exec::report::Plain),
    };
    let run = exec::Run {
        defs: &loaded.defs,
        graph: &loaded.graph,
        plan: &assessed.plan,
        keys: &assessed.keys,
        records: &assessed.recorded.records,
        inventory: &assessed.inventory,
        state: &state,
        journal: &journal,
        backend: backend.as_ref(),
    };
    let summary = exec::run(&run, &opts, reporter.as_mut());
    drop(lock);
    if summary.failed() {
        exit_codes::FAILED
    } else {
        exit_codes::OK
    }
}

pub(crate) fn status(cli: &Cli, targets: &[String]) -> i32 {
    let Ok(loaded) = load(cli, Severity::Error) else {
        return exit_codes::INVALID_DEFINITIONS;
    };
    let state = StateDir::new(&cli.global.cache);
    let backend = match backend(cli) {
        Ok(b) => Some(b),
        Err(e) => {
            eprint(&format!("note: {e}; showing the recorded state only\n"));
            None
        }
    };
    let assessed = match pipeline::assess_with(&loaded, targets, &state, backend.as_deref()) {
        Ok(a) => a,
        Err(e) => return pipeline_error(&e),
    };
    let mut out = String::new();
    let width = assessed
        .order
        .iter()
        .map(|n| n.to_string().len())
        .max()
        .unwrap_or(4)
        .max(4);
    out.push_str(&format!(
        "{:<width$}  {:<18} {:<10}  {:<12}  {}\n",
        "node", "name", "action", "key", "last built"
    ));
    for a in &assessed.plan.actions {
        let name = match a.node {
            NodeId::Host(s) => s.to_string(),
            n => n
                .guest_id()
                .and_then(|id| loaded.defs.guest(id))
                .map(|g| g.name.clone())
                .unwrap_or_default(),
        };
        let built = assessed
            .recorded
            .records
            .get(&a.node.to_string())
            .filter(|r| !r.steps.is_empty())
            .map_or_else(|| "never".to_string(), |r| format_time(r.updated_at));
        out.push_str(&format!(
            "{:<width$}  {:<18} {:<10}  {:<12}  {built}\n",
            a.node.to_string(),
            name,
            a.action.as_str(),
            &a.key[..12]
        ));
    }
    for f in &assessed.plan.foreign {
        out.push_str(&format!(
            "{:<width$}  {:<18} {:<10}  {:<12}  exists, not created by phoenix\n",
            f.to_string(),
            "",
            "foreign",
            "-"
        ));
    }
    print(&out);
    exit_codes::OK
}

/// `2026-11-27 07:15:02 UTC` from seconds since the epoch.
pub fn format_time(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days.cast_signed() + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub(crate) fn logs(cli: &Cli, target_text: &str) -> i32 {
    let Ok(loaded) = load(cli, Severity::Warning) else {
        return exit_codes::INVALID_DEFINITIONS;
    };
    let Some(node) = target::parse(&loaded.defs, target_text).filter(|n| loaded.graph.contains(*n))
    else {
        eprint(&format!("error: unknown target `{target_text}`\n"));
        return exit_codes::USAGE;
    };
    let path = exec::log_path(&StateDir::new(&cli.global.cache), node);
    if let Ok(text) = std::fs::read_to_string(&path) {
        print(&text);
        exit_codes::OK
    } else {
        eprint(&format!(
            "error: no log for {node} yet ({} does not exist); it is written when a build runs a step of {node}\n",
            path.display()
        ));
        exit_codes::FAILED
    }
}

pub(crate) fn destroy(cli: &Cli, targets: &[String], yes: bool) -> i32 {
    let Ok(loaded) = load(cli, Severity::Warning) else {
        return exit_codes::INVALID_DEFINITIONS;
    };
    let state = StateDir::new(&cli.global.cache);
    let backend = match backend(cli) {
        Ok(b) => b,
        Err(e) => {
            eprint(&format!("error: {e}\n"));
            return exit_codes::ENVIRONMENT;
        }
    };
    let nodes = match target::resolve(&loaded.defs, &loaded.graph, targets) {
        Ok(n) => n,
        Err(e) => return pipeline_error(&PipelineError::Target(e)),
    };
    let _lock = match state.lock() {
        Ok(l) => l,
        Err(e) => {
            eprint(&format!("error: {e}\n"));
            return exit_codes::ENVIRONMENT;
        }
    };
    if let Err(e) = state.compact() {
        eprint(&format!("error: {e}\n"));
        return exit_codes::ENVIRONMENT;
    }
    let inventory = match backend.inventory() {
        Ok(i) => i,
        Err(e) => return pipeline_error(&PipelineError::Backend(e)),
    };
    // Dependents first, templates last: the reverse of build order.
    let mut order = loaded.graph.order(&nodes);
    order.reverse();
    let mut doomed = Vec::new();
    for node in order.into_iter().filter(|n| n.guest_id().is_some()) {
        match inventory.get(&node).map(|o| &o.stamp) {
            None => {}
            Some(Stamp::Foreign) => eprint(&format!(
                "{node}: exists but was not created by phoenix; left alone\n"
            )),
            Some(_) => doomed.push(node),
        }
    }
    if doomed.is_empty() {
        print("nothing to destroy");
        return exit_codes::OK;
    }
    let list: Vec<String> = doomed.iter().map(ToString::to_string).collect();
    if !yes {
        if !std::io::stdin().is_terminal() {
            eprint(&format!(
                "error: would destroy {}; pass --yes to confirm (stdin is not a terminal)\n",
                list.join(", ")
            ));
            return exit_codes::USAGE;
        }
        eprint(&format!(
            "destroy {} and their snapshots? [y/N] ",
            list.join(", ")
        ));
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprint("nothing destroyed\n");
            return exit_codes::FAILED;
        }
    }
    let mut failed = false;
    for node in doomed {
        let Some(g) = node.guest_id().and_then(|id| loaded.defs.guest(id)) else {
            continue;
        };
        let ctx = GuestCtx {
            node,
            guest: g,
            defs: &loaded.defs,
            source: None,
            timeout: Duration::from_mins(5),
        };
        let mut log = Log::open(&exec::log_path(&state, node));
        log.note(&format!("== destroy {node}"));
        match backend.destroy(&ctx, &mut log) {
            Ok(()) => {
                let _ = state.remove(&node.slug());
                print(&format!("{node}: destroyed"));
            }
            Err(e) => {
                failed = true;
                eprint(&format!("{node}: not destroyed: {}\n", e.message));
            }
        }
    }
    if failed {
        exit_codes::FAILED
    } else {
        exit_codes::OK
    }
}
