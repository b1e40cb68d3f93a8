//! Writing to the terminal, the diagnostics subscriber, and the loading step every
//! command starts with.

use std::io::Write;

use super::AppError;
use crate::cli::Cli;
use crate::defs::Severity;
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

/// `value` as pretty JSON on stdout, with a final newline: the same text as
/// `serde_json::to_string_pretty` and [`print`], written as it is made through one
/// buffer instead of first into a string (a 10,000-guest plan is 3 MB).
pub(crate) fn print_json(value: &impl serde::Serialize) {
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    // A closed pipe (`phoenix plan | head`) is not an error worth a panic.
    let _ = serde_json::to_writer_pretty(&mut out, value).map(|()| out.write_all(b"\n"));
    let _ = out.flush();
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
    let started = std::time::Instant::now();
    let loaded = Kept::new(pipeline::load(&cli.global.defs, missing_scripts));
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
    Ok(loaded)
}
