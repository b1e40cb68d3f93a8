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

/// A command's `--name value` options, names without their dashes.
pub type Options<'a> = Vec<(&'a str, &'a str)>;

/// The positional arguments of `args` and the `--name value` options after
/// them, as Proxmox's tools take them; `None` when an option lacks its value or
/// a word among the options is not one.
pub fn split_options(args: &[String]) -> Option<(Vec<&str>, Options<'_>)> {
    let first = args
        .iter()
        .position(|a| a.starts_with("--"))
        .unwrap_or(args.len());
    let positional = args[..first].iter().map(String::as_str).collect();
    let mut options = Vec::new();
    let mut rest = args[first..].iter();
    while let Some(name) = rest.next() {
        options.push((name.strip_prefix("--")?, rest.next()?.as_str()));
    }
    Some((positional, options))
}

/// The guest's ID as an argument.
pub fn id(g: &Guest) -> String {
    g.id.to_string()
}

/// `pct` for a container, `qm` for a VM.
pub fn tool(g: &Guest) -> &'static str {
    if g.kind == GuestKind::Ct { "pct" } else { "qm" }
}
