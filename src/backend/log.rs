//! A node's log: every command phoenix ran for it, with its output, and the
//! notices the build's summary shows.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A node's log file in `cache/logs/`. Every command, its output and exit status;
/// and the notices an operator should see in the build's summary.
#[derive(Debug)]
pub struct Log {
    pub(crate) file: Option<File>,
    pub path: PathBuf,
    notices: Vec<String>,
}

impl Log {
    pub fn open(path: &Path) -> Log {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok();
        Log {
            file,
            path: path.to_path_buf(),
            notices: Vec::new(),
        }
    }

    /// A log that goes nowhere (dry runs, tests).
    pub fn sink() -> Log {
        Log {
            file: None,
            path: PathBuf::new(),
            notices: Vec::new(),
        }
    }

    pub fn note(&mut self, text: &str) {
        if let Some(f) = &mut self.file {
            let _ = writeln!(f, "# {text}");
        }
    }

    /// A note the build's summary also shows beside the node (a guest restarted
    /// to apply its settings, say): something the operator should know happened.
    pub fn notice(&mut self, text: &str) {
        self.note(text);
        self.notices.push(text.to_string());
    }

    /// The notices so far, in order.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// Current length of the log file (0 without one).
    pub fn len(&self) -> u64 {
        self.file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What was written to the log after `offset`, at most the last 4 KiB.
    pub fn tail_since(&self, offset: u64) -> String {
        let Ok(bytes) = std::fs::read(&self.path) else {
            return String::new();
        };
        let from = usize::try_from(offset)
            .unwrap_or(0)
            .min(bytes.len())
            .max(bytes.len().saturating_sub(4096));
        String::from_utf8_lossy(&bytes[from..]).into_owned()
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        if let Some(f) = &mut self.file {
            let _ = f.write_all(bytes);
            if !bytes.ends_with(b"\n") && !bytes.is_empty() {
                let _ = f.write_all(b"\n");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Log;

    #[test]
    fn notices_are_kept_in_order_and_written_to_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ct-950.log");
        let mut log = Log::open(&path);
        log.note("just a note");
        log.notice("restarted to apply features");
        log.notice("second");
        assert_eq!(log.notices(), ["restarted to apply features", "second"]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("# just a note\n# restarted to apply features\n"),
            "{text}"
        );
    }
}
