//! Diagnostics of the definitions, for the terminal.

use std::fmt::Write;

use crate::defs::Diagnostics;

/// Diagnostics for the terminal. With `all_warnings` false, warnings are summarised
/// in one line (plan and graph would otherwise repeat them on every run).
pub fn diagnostics(diags: &Diagnostics, all_warnings: bool) -> String {
    let mut out = String::new();
    let mut warnings = 0;
    for d in diags.sorted() {
        if d.is_error() || all_warnings {
            out.push_str(&d.to_string());
            out.push('\n');
        }
        if !d.is_error() {
            warnings += 1;
        }
    }
    let errors = diags.error_count();
    if warnings > 0 {
        let _ = writeln!(
            out,
            "{warnings} warning{} in the definitions{}",
            plural(warnings),
            if all_warnings {
                ""
            } else {
                " (`phoenix validate` lists them)"
            }
        );
    }
    if errors > 0 {
        let _ = writeln!(out, "{errors} error{} in the definitions", plural(errors));
    }
    out
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
