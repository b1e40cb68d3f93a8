//! The read-only commands: `validate`, `plan`, `graph` and `explain`. They load the
//! definitions, assess, and print; nothing on a host is touched. They assess
//! against the recorded state, or, with a backend named (`--backend`, `--host`),
//! against what that backend's host has, as `status` and `build` do: a wiped host
//! or a lost cache shows in the plan as it will in the build.

use std::io::IsTerminal;
use std::process::ExitCode;

use super::output::{Kept, eprint, load, print, print_json_with, print_plan_json};
use super::settings::backend;
use super::status::report_state;
use super::{AppError, CmdResult};
use crate::backend::Backend;
use crate::cli::{BackendKind, Cli, ColorChoice, GraphArgs, GraphFormat, GraphLayout, Output};
use crate::defs::{KeyTexts, Severity};
use crate::graph::target;
use crate::pipeline::{self, Assessed, Loaded, Manifests, Records};
use crate::report::{
    self,
    graph::{Layout, States},
};
use crate::state::{Recorded, StateDir, StateError};

/// The backend named on the command line, whose host a read-only command looks
/// at; `None` without one (or with `dry-run`, whose host is the recorded state),
/// or where it cannot be reached (said on stderr, as `status` does).
fn named_backend(cli: &Cli) -> Option<Box<dyn Backend>> {
    let named = match cli.global.backend {
        Some(BackendKind::DryRun) => false,
        Some(_) => true,
        None => cli.global.host.is_some(),
    };
    if !named {
        return None;
    }
    match backend(cli) {
        Ok(b) => Some(b),
        Err(e) => {
            eprint(&format!("note: {e}; showing the recorded state only\n"));
            None
        }
    }
}

/// Assess `targets` against the named backend's host, or the recorded state,
/// keeping the step manifests `manifests` says.
fn assess(
    cli: &Cli,
    loaded: &Loaded,
    targets: &[String],
    state: &StateDir,
    manifests: Manifests,
) -> Result<Assessed, AppError> {
    assess_read(cli, loaded, targets, state, None, manifests)
}

/// [`assess`], with the state's records when they were read already (beside the
/// load: [`load_and_read`]).
fn assess_read(
    cli: &Cli,
    loaded: &Loaded,
    targets: &[String],
    state: &StateDir,
    read: Option<ReadRecords>,
    manifests: Manifests,
) -> Result<Assessed, AppError> {
    let backend = named_backend(cli);
    let records = match read {
        Some(read) => Records::Read(read),
        None => Records::In(state),
    };
    let assessed =
        pipeline::assess_records(loaded, targets, records, backend.as_deref(), manifests)?;
    report_state(state, &assessed, false)?;
    Ok(assessed)
}

/// The state's records as [`pipeline::read_records`] reads them.
type ReadRecords = Result<Recorded, StateError>;

/// The definitions loaded (their key texts when `texts` says), and when `read`
/// says so, the state's records read beside them ([`pipeline::read_records`]).
fn load_and_read(
    cli: &Cli,
    missing_scripts: Severity,
    texts: KeyTexts,
    state: &StateDir,
    read: bool,
) -> Result<(Kept<Loaded>, Option<ReadRecords>), AppError> {
    let state = state.clone();
    super::output::load_beside(
        cli,
        missing_scripts,
        texts,
        read.then_some(move || pipeline::read_records(&state)),
    )
}

pub(crate) fn validate(cli: &Cli, output: Output) -> CmdResult {
    // Validating computes no key.
    let loaded = super::output::Kept::new(pipeline::load_with(
        &cli.global.defs,
        Severity::Error,
        KeyTexts::WhenAsked,
    ));
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
        Ok(ExitCode::SUCCESS)
    } else {
        Err(AppError::InvalidDefinitions)
    }
}

pub(crate) fn plan(cli: &Cli, targets: &[String], output: Output, refresh: bool) -> CmdResult {
    let state = StateDir::new(&cli.global.cache);
    let (loaded, read) = load_and_read(cli, Severity::Error, KeyTexts::Now, &state, !refresh)?;
    // Never dropped, as the definitions are not (see `output::load`).
    let assessed = super::output::Kept::new(if refresh {
        // The live configs need the host: the backend the command line names or
        // this machine has, not the recorded state.
        let backend = super::settings::backend(cli)?;
        let mut assessed = pipeline::assess_with(&loaded, targets, &state, Some(backend.as_ref()))?;
        report_state(&state, &assessed, false)?;
        let found = pipeline::refresh(&loaded, &mut assessed, backend.as_ref(), false);
        super::status::report_unreadable(&found);
        assessed
    } else {
        assess_read(cli, &loaded, targets, &state, read, Manifests::Plan)?
    });
    crate::timing::timed("plan written", || match output {
        Output::Json => print_plan_json(&assessed.plan),
        Output::Text => print(&report::plan::text(&assessed.plan, &loaded.defs)),
    });
    Ok(ExitCode::SUCCESS)
}

/// Whether the tree is coloured: `--color`, and for `auto` a terminal on stdout
/// unless `NO_COLOR` is set (`CLICOLOR_FORCE` colours a pipe too).
fn colors(choice: ColorChoice) -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if set("NO_COLOR") => false,
        ColorChoice::Auto => set("CLICOLOR_FORCE") || std::io::stdout().is_terminal(),
    }
}

pub(crate) fn graph(cli: &Cli, args: &GraphArgs) -> CmdResult {
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        GraphFormat::Tree
    } else {
        GraphFormat::Text
    });
    let marks = report::graph::Marks {
        colors: format == GraphFormat::Tree && colors(args.color),
        words: args.state,
    };
    // The tree's colours and the page need the states, as `--state` does.
    let needs_state = args.state || format == GraphFormat::Html;
    let state = StateDir::new(&cli.global.cache);
    let assesses = needs_state || marks.colors;
    // Only a graph with states computes keys.
    let texts = if assesses {
        KeyTexts::Now
    } else {
        KeyTexts::WhenAsked
    };
    let (loaded, read) = load_and_read(cli, Severity::Warning, texts, &state, assesses)?;
    let assessed = if assesses {
        // The page shows every step's inputs; the other views only the plan.
        let manifests = if format == GraphFormat::Html {
            Manifests::All
        } else {
            Manifests::Plan
        };
        match assess_read(cli, &loaded, &args.targets, &state, read, manifests) {
            Ok(a) => Some(a),
            Err(e) if needs_state => return Err(e),
            Err(AppError::Target(e)) => return Err(AppError::Target(e)),
            // Colours only decorate the tree: without a readable state it is drawn plain.
            Err(e) => {
                eprint(&format!("note: {e}; the tree is not coloured by state\n"));
                None
            }
        }
    } else {
        None
    };
    // Like the definitions, kept until the process ends (see `output::load`).
    let assessed = super::output::Kept::new(assessed);
    let states = assessed
        .as_ref()
        .map(|a| States::of(&a.plan, &a.recorded.records));
    let nodes = if let Some(a) = &*assessed {
        a.order.clone()
    } else {
        let t = target::resolve(&loaded.defs, &loaded.graph, &args.targets)?;
        loaded.graph.order(&loaded.graph.select(&t))
    };
    let view = report::graph::View {
        defs: &loaded.defs,
        graph: &loaded.graph,
        nodes: &nodes,
        states: states.as_ref(),
        all_edges: args.all_edges,
    };
    print(&match format {
        GraphFormat::Tree => {
            let all = args.targets.is_empty() || args.targets.iter().any(|t| t == "all");
            let targets = if all {
                Vec::new()
            } else {
                target::resolve(&loaded.defs, &loaded.graph, &args.targets)?
            };
            report::graph::tree(&view, &targets, marks)
        }
        GraphFormat::Text => report::graph::text(&view),
        GraphFormat::Dot => report::graph::dot(&view),
        GraphFormat::Mermaid => report::graph::mermaid(&view),
        GraphFormat::Json => {
            // Written as it is serialised, not first into a string.
            print_json_with(|out| report::graph::write_json(&view, out).map(drop));
            return Ok(ExitCode::SUCCESS);
        }
        GraphFormat::Html => {
            // Made with the states (`with_state` above), so this is never `None`.
            let Some(a) = &*assessed else {
                return Err(AppError::Usage("the page needs the plan".into()));
            };
            let details = report::graph::Details {
                plan: &a.plan,
                keys: &a.keys,
            };
            let layout = match args.layout {
                GraphLayout::Auto => Layout::Auto,
                GraphLayout::Dot => Layout::Dot,
                GraphLayout::Builtin => Layout::Builtin,
            };
            let page = report::graph::html(&view, &details, layout)
                .map_err(|e| AppError::Usage(e.to_string()))?;
            if let Some(note) = page.note {
                eprint(&format!("note: {note}\n"));
            }
            if std::io::stdout().is_terminal() {
                eprint(
                    "note: this is a web page; write it to a file and open that in a browser: phoenix graph --format html > graph.html\n",
                );
            }
            page.html
        }
    });
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn explain(cli: &Cli, target_text: &str) -> CmdResult {
    let loaded = load(cli, Severity::Error)?;
    let state = StateDir::new(&cli.global.cache);
    let assessed = assess(
        cli,
        &loaded,
        &[target_text.to_string()],
        &state,
        Manifests::All,
    )?;
    let Some(node) = target::parse(&loaded.defs, target_text) else {
        return Err(AppError::Usage(format!("unknown target `{target_text}`")));
    };
    let Some(desired) = assessed.keys.get(&node) else {
        return Err(AppError::Usage(format!("no keys for {node}")));
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
    Ok(ExitCode::SUCCESS)
}
