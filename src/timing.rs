//! How long each stage of a command took, at debug level: `PHOENIX_LOG=debug
//! phoenix plan all` shows where a slow plan spends its time without a profiler,
//! and how much memory the process has written to by the end of each stage
//! (`anon_kb`). On the project's machines fresh memory costs about two
//! milliseconds of CPU per megabyte (the kernel clearing it), so that number
//! matters as much as the time.

/// Run `f` and log how long it took, named `what`.
pub fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = f();
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(
            anon_kb = anonymous_kb(),
            elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "{what}"
        );
    }
    out
}

/// The process's resident anonymous memory in KiB (`RssAnon` of
/// `/proc/self/status`); 0 where there is none.
fn anonymous_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
