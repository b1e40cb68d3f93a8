//! `Cmd`, one command line as argv: what every pve operation is built from, run by
//! the runner, printed by the dry run. Its own module so that the command builders
//! (`commands`) and the host steps (`host`) share it without depending on each other.

use crate::backend::command::shown;
use crate::defs::{Guest, GuestKind};

/// One command line: argv, never a shell string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub argv: Vec<String>,
}

impl Cmd {
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Cmd {
        Cmd {
            argv: items.into_iter().map(Into::into).collect(),
        }
    }

    pub(crate) fn opt(mut self, name: &str, value: impl Into<String>) -> Cmd {
        self.argv.push(format!("--{name}"));
        self.argv.push(value.into());
        self
    }

    pub(crate) fn opt_if(self, name: &str, value: Option<String>) -> Cmd {
        match value {
            Some(v) => self.opt(name, v),
            None => self,
        }
    }

    /// The command as a person would type it, quoted where needed.
    pub fn display(&self) -> String {
        self.argv
            .iter()
            .map(|a| shown(a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `pct` for a container, `qm` for a VM.
pub fn tool(g: &Guest) -> &'static str {
    if g.kind == GuestKind::Ct { "pct" } else { "qm" }
}
