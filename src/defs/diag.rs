//! Diagnostics: one problem in the definitions, located by file and JSON path.
//!
//! Loading and validation never stop at the first problem. Every stage pushes
//! [`Diagnostic`]s into one list so `phoenix validate` reports everything at once.

use std::fmt;

/// How bad a diagnostic is. Errors make `validate`, `plan` and `build` fail;
/// warnings are printed and otherwise ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, located by the file (relative to the definitions directory)
/// and the JSON path inside it, with a hint that tells the reader what to change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    /// Dotted JSON path (`lxc_configs.950.clone_from_ctid`), or `line:column`
    /// for malformed JSON, or empty when the whole file is meant.
    pub path: String,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(file: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_string(),
            path: path.into(),
            message: message.into(),
            help: None,
        }
    }

    pub fn warning(file: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, path, message)
        }
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}", self.file)?;
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// All diagnostics of one run, in the order they were found.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Errors first, then warnings; inside each, by file and path so output is stable.
    pub fn sorted(&self) -> Vec<&Diagnostic> {
        let mut v: Vec<&Diagnostic> = self.0.iter().collect();
        v.sort_by(|a, b| {
            (a.severity, &a.file, &a.path, &a.message)
                .cmp(&(b.severity, &b.file, &b.path, &b.message))
        });
        v.dedup();
        v
    }
}

/// Closest candidate by edit distance (Levenshtein, over characters), for "did you
/// mean" hints; ties go to the alphabetically first candidate.
pub fn did_you_mean<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(wanted, c), c))
        .filter(|(d, c)| *d <= (wanted.len().max(c.len()) / 3).max(1))
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_ids() {
        assert_eq!(did_you_mean("951", ["902", "950", "101"]), Some("950"));
        assert_eq!(
            did_you_mean("base_setp", ["base_setup", "docker"]),
            Some("base_setup")
        );
        assert_eq!(did_you_mean("zzzzzz", ["base_setup"]), None);
    }

    #[test]
    fn display_names_file_path_and_help() {
        let d = Diagnostic::error("a.json", "lxc_configs.1", "bad").help("fix it");
        assert_eq!(
            d.to_string(),
            "error: a.json: lxc_configs.1: bad\n  help: fix it"
        );
    }
}
