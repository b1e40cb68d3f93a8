//! How long each stage of a command took, at debug level: `PHOENIX_LOG=debug
//! phoenix plan all` shows where a slow plan spends its time without a profiler.

/// Run `f` and log how long it took, named `what`.
pub fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = f();
    tracing::debug!(
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "{what}"
    );
    out
}
