//! Writing to the terminal, the diagnostics subscriber, and the loading step every
//! command starts with.

use std::io::Write;

use super::AppError;
use crate::cli::Cli;
use crate::defs::{KeyTexts, Severity};
use crate::pipeline::{self, Loaded};
use crate::report;

pub(crate) fn init_tracing(verbose: u8, filter: Option<&str>) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = filter
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Text on stdout, with a final newline.
pub(crate) fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`phoenix graph | head`) is not an error worth a panic.
    let _ = out.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}

/// JSON on stdout, with a final newline, as `write` writes it to the buffer it is
/// given: written as it is made, not first into a string (a 10,000-guest plan is
/// 3 MB), and its long lists on every core ([`crate::report::json::PrettyObject`]).
pub(crate) fn print_json_with(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    // A closed pipe (`phoenix plan | head`) is not an error worth a panic.
    let _ = write(&mut out).and_then(|()| out.write_all(b"\n"));
    let _ = out.flush();
}

/// A plan as JSON on stdout ([`print_json_with`], `report::plan::write_json`).
pub(crate) fn print_plan_json(plan: &crate::plan::Plan) {
    print_json_with(|out| crate::report::plan::write_json(plan, out).map(drop));
}

/// A value kept until the process ends, never dropped (see [`load`]).
pub(crate) type Kept<T> = std::mem::ManuallyDrop<T>;

/// Text on stderr, as given.
pub(crate) fn eprint(text: &str) {
    if !text.is_empty() {
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

/// Load the definitions and print their diagnostics; errors stop the command.
///
/// The definitions are never dropped: a command loads them once and they live until
/// the process ends, when the OS takes the memory back at once. Freeing their
/// million small allocations one by one costs tens of milliseconds at 10,000 guests.
pub(crate) fn load(cli: &Cli, missing_scripts: Severity) -> Result<Kept<Loaded>, AppError> {
    load_beside(cli, missing_scripts, KeyTexts::Now, None::<fn()>).map(|(loaded, _)| loaded)
}

/// [`load`], the guests' key texts written when `texts` says, with `beside` run at
/// the same time on a thread of its own, which the cores the load leaves idle
/// take up. The load stays on this thread, as without
/// it. When the definitions have errors, the command stops without waiting for
/// `beside`, whose result nobody wants (it must change nothing, as it may be cut
/// off by the process's end).
pub(crate) fn load_beside<T: Send + 'static>(
    cli: &Cli,
    missing_scripts: Severity,
    texts: KeyTexts,
    beside: Option<impl FnOnce() -> T + Send + 'static>,
) -> Result<(Kept<Loaded>, Option<T>), AppError> {
    let started = std::time::Instant::now();
    let other = beside.map(std::thread::spawn);
    let loaded = Kept::new(pipeline::load_with(
        &cli.global.defs,
        missing_scripts,
        texts,
    ));
    tracing::info!(
        guests = loaded.defs.guests.len(),
        elapsed_ms = started.elapsed().as_millis(),
        "definitions loaded from {}",
        cli.global.defs.display()
    );
    eprint(&report::diagnostics(&loaded.diags, false));
    if loaded.diags.has_errors() {
        return Err(AppError::InvalidDefinitions);
    }
    // A panic there is this thread's: passed on as it is.
    let other = other.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
    Ok((loaded, other))
}
