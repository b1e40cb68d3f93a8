//! The host's side of "one build at a time". The cache lock stops two builds of one
//! cache; it cannot stop two caches from driving one host, and two builds that
//! each believe they own a guest destroy each other's work. A backend whose host
//! is a place on this machine (the sim directory, the LXC path) therefore takes a
//! lock beside it for as long as a build drives it: an advisory file lock, which
//! the kernel drops when the process dies (even by kill -9), so it never goes stale.
//!
//! Read-only commands (`plan`, `status`) never take it: they only read the host.

use std::fs::{self, File};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use super::{BackendError, OpError};

/// The lock a build takes on the host it drives, held until the backend is dropped.
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
    backend: &'static str,
    /// What the lock guards, for the message: "the simulated host in `/x/sim`".
    what: String,
    held: Mutex<Option<File>>,
}

impl Claim {
    pub fn new(path: PathBuf, backend: &'static str, what: String) -> Claim {
        Claim {
            path,
            backend,
            what,
            held: Mutex::new(None),
        }
    }

    /// Take the lock, unless this backend holds it already. Refused, naming the
    /// holder's process, while another process holds it.
    pub fn take(&self) -> Result<(), BackendError> {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.is_some() {
            return Ok(());
        }
        let failed = |message: String| BackendError::Failed {
            backend: self.backend,
            message,
        };
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| failed(format!("cannot create `{}`: {e}", dir.display())))?;
        }
        let mut file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| failed(format!("cannot open `{}`: {e}", self.path.display())))?;
        match file.try_lock() {
            Ok(()) => {
                let _ = file.set_len(0);
                let _ = writeln!(file, "{}", std::process::id());
                *held = Some(file);
                Ok(())
            }
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&self.path)
                    .map(|p| format!(" (pid {})", p.trim()))
                    .unwrap_or_default();
                Err(failed(format!(
                    "another phoenix build{holder} drives {}, with another cache (it holds `{}`); \
                     two caches must not drive one host: wait for it to finish, or build with its --cache",
                    self.what,
                    self.path.display()
                )))
            }
            Err(fs::TryLockError::Error(e)) => Err(failed(format!(
                "cannot lock `{}`: {e}",
                self.path.display()
            ))),
        }
    }

    /// [`Claim::take`] for an operation: a host another build drives is not touched.
    pub fn for_op(&self) -> Result<(), OpError> {
        self.take().map_err(|e| OpError::new(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host/lock");
        let first = Claim::new(path.clone(), "sim", "the simulated host".into());
        first.take().unwrap();
        first.take().unwrap();
        let second = Claim::new(path.clone(), "sim", "the simulated host".into());
        let err = second.take().unwrap_err().to_string();
        assert!(
            err.contains("another phoenix build")
                && err.contains(&format!("pid {}", std::process::id()))
                && err.contains("the simulated host"),
            "{err}"
        );
        assert!(second.for_op().is_err());
        drop(first);
        // A child another test forks at this moment holds a copy of the lock's
        // descriptor until it execs (then close-on-exec drops it): give it a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while second.take().is_err() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        second.take().unwrap();
    }
}
