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

    /// A number option, when there is a number.
    pub(crate) fn opt_num(self, name: &str, value: Option<u64>) -> Cmd {
        self.opt_if(name, value.map(|v| v.to_string()))
    }

    /// A boolean option as Proxmox takes it: `1` or `0`.
    pub(crate) fn flag(self, name: &str, on: bool) -> Cmd {
        self.opt(name, if on { "1" } else { "0" })
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

/// The guest's ID as an argument.
pub fn id(g: &Guest) -> String {
    g.id.to_string()
}

/// `pct` for a container, `qm` for a VM.
pub fn tool(g: &Guest) -> &'static str {
    if g.kind == GuestKind::Ct { "pct" } else { "qm" }
}
