//! How backends fail: a backend that cannot run at all ([`BackendError`]), and an
//! operation that failed ([`OpError`]), retried with backoff when it was a lock.
//!
//! Only the backend's own tools (`pct`, `qm`, `pvesh`, `lxc-*`) can report a lock:
//! their output goes through [`OpError::from_output`]. A script's failure (feature,
//! app, health check, host step) is [`OpError::script`], never retried, whatever it
//! printed: a script that says "database is locked" and exits 1 ran once and failed.

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// No backend can run on this machine; the message says what to install.
    #[error("{0}")]
    Unavailable(String),
    #[error("backend `{backend}`: {message}")]
    Failed {
        backend: &'static str,
        message: String,
    },
}

/// Why an operation failed. Lock-type failures are retried with backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub message: String,
    pub retryable: bool,
}

impl OpError {
    pub fn new(message: impl Into<String>) -> OpError {
        OpError {
            message: message.into(),
            retryable: false,
        }
    }

    /// A script failed: never retried (see the module doc).
    pub fn script(message: impl Into<String>) -> OpError {
        OpError::new(message)
    }

    /// Classify the error output of one of the backend's own tools (never a
    /// script's): "can't lock file", "CT is locked" and "got timeout" are
    /// Proxmox's lock errors; LXC says "Failed to acquire lock".
    pub fn from_output(message: impl Into<String>) -> OpError {
        let message = message.into();
        let lower = message.to_ascii_lowercase();
        let retryable = [
            "can't lock file",
            "is locked",
            "got timeout",
            "failed to acquire lock",
            "resource temporarily unavailable",
        ]
        .iter()
        .any(|p| lower.contains(p))
            || started_nothing(&message);
        OpError { message, retryable }
    }
}

/// liblxc's own words when `lxc-attach` could not re-execute itself from a memory
/// file (lxc `src/lxc/rexec.c` `lxc_rexec`, and the constructor
/// `lxc_attach_rexec` in `src/lxc/tools/lxc_attach.c`). That runs in a
/// constructor, before `lxc-attach`'s `main`, so nothing was run in the
/// container: the command can be run again. Seen on these machines as "Device or
/// resource busy - Failed to rexec as memfd", followed by a crash of the tool.
const REXEC_FAILED: [&str; 2] = [
    "Failed to rexec as memfd",
    "Failed to re-execute lxc-attach via memory file descriptor",
];

/// Whether `output` is `lxc-attach` failing before it ran anything: liblxc's words
/// when it could not re-execute the tool from a memory file (see `REXEC_FAILED`).
pub fn started_nothing(output: &str) -> bool {
    REXEC_FAILED.iter().any(|p| output.contains(p))
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type OpResult = Result<(), OpError>;
