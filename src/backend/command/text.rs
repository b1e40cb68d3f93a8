//! Command lines as text: shell quoting for ssh and logs, argv building, and the
//! last lines of an output for an error message.

use std::borrow::Cow;

use crate::backend::OpError;

/// Quote one argument for a POSIX shell: the remote shell of ssh runs the command
/// line, and logs and the dry run show it the same way.
///
/// Words made only of letters, digits and `-_./:=,@%+` stay bare, as they always
/// have (the dry-run snapshots show them so). `shlex` would quote `=`, `,` and `%`
/// too, which matters only in a command's first word (an assignment) or inside a
/// brace expansion; neither happens here, where the first word is a program name
/// and every word stands alone. Every other word is quoted by `shlex`, which refuses
/// a NUL byte: no shell argument (no C string) can carry one, so that is an error
/// rather than a silently cut value.
pub fn sh_quote(arg: &str) -> Result<Cow<'_, str>, OpError> {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
    {
        return Ok(Cow::Borrowed(arg));
    }
    shlex::try_quote(arg).map_err(|e| {
        OpError::new(format!(
            "`{}` cannot be passed as a command argument: {e}",
            shown(&without_nul(arg))
        ))
    })
}

/// An argument as a person would type it, for logs and the dry run (never for
/// execution). A NUL byte, which [`sh_quote`] refuses, is shown as `\0`.
pub fn shown(arg: &str) -> String {
    match sh_quote(arg) {
        Ok(quoted) => quoted.into_owned(),
        Err(_) => {
            sh_quote(&arg.replace('\0', "\\0")).map_or_else(|_| String::new(), Cow::into_owned)
        }
    }
}

/// `arg` with each NUL byte written as `\0`, for showing it.
fn without_nul(arg: &str) -> String {
    arg.replace('\0', "\\0")
}

/// The last three non-empty lines of a command's output, joined: what an error
/// message quotes so the reader sees why without opening the log.
pub fn last_lines<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let lines: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

pub fn argv<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}
