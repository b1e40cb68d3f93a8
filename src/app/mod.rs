//! Running one command: pipeline in, report out, exit code back to `main`.

mod build;

use std::collections::HashMap;
use std::io::Write;

use crate::cli::{Cli, Command, GraphFormat, Output};
use crate::defs::Severity;
use crate::exit_codes;
use crate::graph::{NodeId, target};
use crate::pipeline::{self, Loaded, PipelineError};
use crate::plan::ActionKind;
use crate::report::{self, graph::NodeState};
use crate::state::StateDir;

pub fn run(cli: &Cli) -> i32 {
    init_tracing(cli.global.verbose);
    match &cli.command {
        Command::Validate { output } => validate(cli, *output),
        Command::Plan { targets, output } => plan(cli, targets, *output),
        Command::Graph {
            targets,
            format,
            state,
        } => graph(cli, targets, *format, *state),
        Command::Explain { target } => explain(cli, target),
        Command::Build { .. } => build::build(cli),
        Command::Status { targets } => build::status(cli, targets),
        Command::Logs { target } => build::logs(cli, target),
        Command::Destroy { targets, yes } => build::destroy(cli, targets, *yes),
    }
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PHOENIX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

pub(crate) fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`phoenix graph | head`) is not an error worth a panic.
    let _ = out.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}

pub(crate) fn eprint(text: &str) {
    if !text.is_empty() {
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

/// Load the definitions; print the errors and return an exit code when they are invalid.
pub(crate) fn load(cli: &Cli, missing_scripts: Severity) -> Result<Loaded, i32> {
    let started = std::time::Instant::now();
    let loaded = pipeline::load(&cli.global.defs, missing_scripts);
    tracing::info!(
        guests = loaded.defs.guests.len(),
        elapsed_ms = started.elapsed().as_millis(),
        "definitions loaded from {}",
        cli.global.defs.display()
    );
    if loaded.diags.has_errors() {
        eprint(&report::diagnostics(&loaded.diags, false));
        return Err(exit_codes::INVALID_DEFINITIONS);
    }
    eprint(&report::diagnostics(&loaded.diags, false));
    Ok(loaded)
}

pub(crate) fn pipeline_error(e: &PipelineError) -> i32 {
    eprint(&format!("error: {e}\n"));
    match e {
        PipelineError::Target(_) => exit_codes::USAGE,
        PipelineError::State(_) | PipelineError::Backend(_) => exit_codes::ENVIRONMENT,
    }
}

fn validate(cli: &Cli, output: Output) -> i32 {
    let loaded = pipeline::load(&cli.global.defs, Severity::Error);
    let errors = loaded.diags.error_count();
    match output {
        Output::Json => {
            let list: Vec<_> = loaded.diags.sorted();
            print(
                &serde_json::to_string_pretty(&serde_json::json!({
                    "valid": errors == 0,
                    "guests": loaded.defs.guests.len(),
                    "host_steps": loaded.defs.host_steps.len(),
                    "diagnostics": list,
                }))
                .unwrap_or_default(),
            );
        }
        Output::Text => {
            eprint(&report::diagnostics(&loaded.diags, true));
            if errors == 0 {
                let cts = loaded
                    .defs
                    .guests
                    .values()
                    .filter(|g| g.kind == crate::defs::GuestKind::Ct)
                    .count();
                let vms = loaded.defs.guests.len() - cts;
                print(&format!(
                    "ok: {cts} container{}, {vms} VM{}, {} host step{} in {} ({} layout)",
                    report::plural(cts),
                    report::plural(vms),
                    loaded.defs.host_steps.len(),
                    report::plural(loaded.defs.host_steps.len()),
                    cli.global.defs.display(),
                    loaded.defs.layout.as_str()
                ));
            }
        }
    }
    if errors == 0 {
        exit_codes::OK
    } else {
        exit_codes::INVALID_DEFINITIONS
    }
}

fn plan(cli: &Cli, targets: &[String], output: Output) -> i32 {
    let loaded = match load(cli, Severity::Error) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let state = StateDir::new(&cli.global.cache);
    let assessed = match pipeline::assess(&loaded, targets, &state) {
        Ok(a) => a,
        Err(e) => return pipeline_error(&e),
    };
    for (path, why) in &assessed.recorded.unreadable {
        eprint(&format!(
            "warning: ignoring unreadable state record {}: {why}\n",
            path.display()
        ));
    }
    match output {
        Output::Json => print(&report::plan::json(&assessed.plan)),
        Output::Text => print(&report::plan::text(&assessed.plan, &loaded.defs)),
    }
    // The process ends here: freeing ~2 million small allocations one by one is
    // pure waste (tens of ms at 10,000 guests). The OS takes the memory back.
    std::mem::forget(assessed);
    std::mem::forget(loaded);
    exit_codes::OK
}

fn graph(cli: &Cli, targets: &[String], format: GraphFormat, with_state: bool) -> i32 {
    let loaded = match load(cli, Severity::Warning) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let state = StateDir::new(&cli.global.cache);
    let (nodes, states) = if with_state {
        let assessed = match pipeline::assess(&loaded, targets, &state) {
            Ok(a) => a,
            Err(e) => return pipeline_error(&e),
        };
        let states: HashMap<NodeId, NodeState> = assessed
            .plan
            .actions
            .iter()
            .map(|a| {
                let s = match a.action {
                    ActionKind::Fresh => NodeState::Fresh,
                    _ if !assessed.recorded.records.contains_key(&a.node.to_string()) => {
                        NodeState::Missing
                    }
                    _ => NodeState::Stale,
                };
                (a.node, s)
            })
            .collect();
        (assessed.order, Some(states))
    } else {
        match target::resolve(&loaded.defs, &loaded.graph, targets) {
            Ok(t) => (loaded.graph.order(&loaded.graph.select(&t)), None),
            Err(e) => return pipeline_error(&PipelineError::Target(e)),
        }
    };
    let view = report::graph::View {
        defs: &loaded.defs,
        graph: &loaded.graph,
        nodes: &nodes,
        states: states.as_ref(),
    };
    print(&match format {
        GraphFormat::Text => report::graph::text(&view),
        GraphFormat::Dot => report::graph::dot(&view),
        GraphFormat::Mermaid => report::graph::mermaid(&view),
        GraphFormat::Json => report::graph::json(&view),
    });
    exit_codes::OK
}

fn explain(cli: &Cli, target_text: &str) -> i32 {
    let loaded = match load(cli, Severity::Error) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let state = StateDir::new(&cli.global.cache);
    let assessed = match pipeline::assess(&loaded, &[target_text.to_string()], &state) {
        Ok(a) => a,
        Err(e) => return pipeline_error(&e),
    };
    let Some(node) = target::parse(&loaded.defs, target_text) else {
        eprint(&format!("error: unknown target `{target_text}`\n"));
        return exit_codes::USAGE;
    };
    let Some(desired) = assessed.keys.get(&node) else {
        eprint(&format!("error: no keys for {node}\n"));
        return exit_codes::USAGE;
    };
    let name = node
        .guest_id()
        .and_then(|id| loaded.defs.guest(id))
        .map(|g| g.name.clone())
        .unwrap_or_default();
    let rec = assessed.recorded.records.get(&node.to_string());
    print(&report::explain::text(
        node,
        &name,
        assessed.plan.action(node),
        desired,
        rec,
    ));
    exit_codes::OK
}
