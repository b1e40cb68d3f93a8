//! A guest's health checks, run one at a time inside the running guest: the
//! build's `app` step runs them after the application script, and
//! `phoenix check` runs them on demand. Both go through [`run`], so a check runs
//! the same way (`health/<script> <args...>` with the guest's definition beside
//! it, through [`Backend::exec`]) and writes the same lines to the guest's log.
//!
//! What a check printed is in the log whole; [`Ran::last_line`] is the last line
//! of it, for a table, with secrets taken out ([`redact`]).
//!
//! A check whose run failed before anything ran in the guest (`lxc-attach`
//! failing to start, a lock: [`OpError::retryable`]) is run again, as [`Again`]
//! says, before it counts as failed. Only that failure is retried: it says
//! nothing about the guest, and as nothing ran, nothing runs twice.

use std::time::{Duration, Instant};

use super::retry::Retry;
use super::scripts;
use crate::backend::{Backend, GuestCtx, Log, OpError, OpResult};
use crate::defs::secrets::is_secret;
use crate::defs::{Definitions, HealthCheck};

/// How one health check went.
#[derive(Debug)]
pub struct Ran {
    pub result: OpResult,
    pub elapsed: Duration,
    /// Failed because it ran out of time (`GuestCtx::timeout`).
    pub timed_out: bool,
    /// The last line the check printed (stdout or stderr), trimmed, secrets
    /// redacted; empty when it printed nothing.
    pub last_line: String,
    /// The check did not start, and was not tried again because of Ctrl-C
    /// ([`Tried::interrupted`](super::retry::Tried::interrupted)): its result is
    /// the failure before.
    pub interrupted: bool,
}

/// How often a check that failed to start is run again, and how long to wait
/// before each new try (doubling); a build's Ctrl-C stops the tries
/// ([`Ran::interrupted`]).
pub struct Again<'a> {
    pub retry: Retry<'a>,
    /// Told of each new try (its number, from 1) and the failure before it.
    pub on_retry: &'a dyn Fn(u32, &OpError),
}

/// Run `h` inside the guest of `ctx`, its output going to `log`, for at most
/// `ctx.timeout` a try; a try that failed to start is followed by another, as
/// `again` says.
pub fn run(
    defs: &Definitions,
    backend: &dyn Backend,
    ctx: &GuestCtx,
    h: &HealthCheck,
    again: &Again,
    log: &mut Log,
) -> Ran {
    log.note(&format!("health check `{}`", h.name));
    let script = scripts::guest_script(
        defs,
        ctx.guest,
        &defs.layout.health(&h.script),
        h.args.clone(),
    );
    // Where the last try's output starts in the log, and when it started.
    let (mut from, mut started) = (log.len(), Instant::now());
    let log = std::cell::RefCell::new(log);
    let tried = again.retry.run(
        || {
            let mut log = log.borrow_mut();
            (from, started) = (log.len(), Instant::now());
            backend.exec(ctx, &script, &mut log)
        },
        |attempt, e| {
            log.borrow_mut().note(&format!(
                "the check did not start ({}); try {} of {}",
                e.message,
                attempt + 1,
                again.retry.retries + 1
            ));
            (again.on_retry)(attempt, e);
        },
    );
    let (log, result) = (log.into_inner(), tried.result);
    let elapsed = started.elapsed();
    Ran {
        timed_out: result.is_err() && elapsed >= ctx.timeout,
        last_line: last_output_line(&log.tail_since(from)).map_or_else(String::new, redact),
        result,
        elapsed,
        interrupted: tried.interrupted,
    }
}

/// A failed check as the build reports it: the step fails with this.
pub fn failed(h: &HealthCheck, e: &OpError) -> OpError {
    OpError {
        message: format!("health check `{}` failed: {}", h.name, e.message),
        retryable: false,
    }
}

/// The last line a check printed, from what its run wrote to the log: the log
/// holds phoenix's command lines (`$ ...`) and notes (`# ...`) too, and the
/// check's output follows its own command line, the last one. `None` when
/// nothing follows it.
fn last_output_line(written: &str) -> Option<&str> {
    for line in written.lines().rev() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("# ") {
            continue;
        }
        if line.starts_with("$ ") {
            return None;
        }
        return Some(line);
    }
    None
}

/// `line` with the value of every secret it names replaced by `<redacted>`: a
/// word whose name says it is one (`*password*`, `*passwd*`, `*token*`,
/// `*secret*`, `api_key`...: [`is_secret`]) given a value with `=` or `:`
/// (`DB_PASSWORD=x`, `token: x`, `"secret": "x"`, `password = x`), and the
/// password of a URL (`postgres://user:x@db`). A secret named with no `=` or
/// `:` after it cannot be told from a word, and is not redacted.
pub fn redact(line: &str) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut redact_next = false;
    for (i, word) in words.iter().enumerate() {
        if word.is_empty() {
            out.push(String::new());
            continue;
        }
        if redact_next && !matches!(*word, "=" | ":") {
            out.push("<redacted>".into());
            redact_next = false;
            continue;
        }
        let word = url_password_redacted(word);
        match word.find(['=', ':']) {
            Some(at) if is_secret(name_of(&word[..at])) => {
                let value = word[at + 1..].trim_matches(|c: char| "\"',;".contains(c));
                let value = value.trim_start_matches(['=', ':']);
                if value.is_empty() {
                    out.push(word);
                    redact_next = true;
                } else {
                    out.push(format!("{}<redacted>", &word[..=at]));
                }
            }
            None if is_secret(name_of(&word))
                && words
                    .get(i + 1)
                    .is_some_and(|next| matches!(*next, "=" | ":")) =>
            {
                out.push(word);
                redact_next = true;
            }
            _ => out.push(word),
        }
    }
    out.join(" ")
}

/// A word as a name: without the quotes, dashes and brackets around it.
fn name_of(word: &str) -> &str {
    word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_')
}

/// `scheme://user:password@host...` with the password redacted.
fn url_password_redacted(word: &str) -> String {
    let Some(scheme_end) = word.find("://") else {
        return word.to_string();
    };
    let rest = &word[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return word.to_string();
    };
    let Some(colon) = rest[..at].find(':') else {
        return word.to_string();
    };
    let start = scheme_end + 3;
    format!(
        "{}<redacted>{}",
        &word[..=start + colon],
        &word[start + at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_is_the_checks_own_output() {
        let log = "$ lxc-attach -n phx-950 -- /bin/mkdir -p /phoenix/run\n# exit 0 after 0.0s\n\
                   $ lxc-attach -n phx-950 -- /bin/sh /phoenix/run/http_ok.sh 127.0.0.1 8000\n\
                   trying\n  http_ok: answered (try 2)  \n\n# exit 0 after 1.2s\n";
        assert_eq!(last_output_line(log), Some("http_ok: answered (try 2)"));
        // Nothing printed after its command line: no line, not the command line.
        let quiet = "$ sim exec ct:950 health/ok.sh\n# exit 0 after 0.0s\n";
        assert_eq!(last_output_line(quiet), None);
        assert_eq!(last_output_line(""), None);
        // A failure's output is stderr as much as stdout.
        let failed = "$ sh health/x.sh\nup\nconnection refused\n# exit 1 after 0.1s\n";
        assert_eq!(last_output_line(failed), Some("connection refused"));
    }

    #[test]
    fn secrets_in_a_line_are_redacted() {
        let cases = [
            (
                "DB_PASSWORD=hunter2 DB_HOST=db",
                "DB_PASSWORD=<redacted> DB_HOST=db",
            ),
            ("token: abc123", "token: <redacted>"),
            ("api_token:abc123 ok", "api_token:<redacted> ok"),
            (
                r#"{"secret": "s3", "user": "admin"}"#,
                r#"{"secret": <redacted> "user": "admin"}"#,
            ),
            ("password = hunter2", "password = <redacted>"),
            ("--api-key=abc ready", "--api-key=<redacted> ready"),
            (
                "db at postgres://app:hunter2@db:5432/x up",
                "db at postgres://app:<redacted>@db:5432/x up",
            ),
            (
                "http_ok: http://127.0.0.1:80/ answered",
                "http_ok: http://127.0.0.1:80/ answered",
            ),
            ("all 3 services up", "all 3 services up"),
        ];
        for (line, want) in cases {
            let got = redact(line);
            assert_eq!(got, want, "{line}");
            for secret in ["hunter2", "abc123", "s3\"", "=abc "] {
                assert!(!got.contains(secret), "{secret} in {got}");
            }
        }
    }
}
