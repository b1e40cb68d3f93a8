//! phoenix's marked block in a config file it shares with people (`/etc/exports` on
//! the host, `/etc/fstab` in a VM): the block is replaced, every line outside it kept.

const EXPORTS_BEGIN: &str = "# BEGIN phoenix: managed by phoenix host:nfs; edits here are replaced";
const END: &str = "# END phoenix";

/// `/etc/exports` with phoenix's block holding exactly `lines`.
pub fn with_exports(current: &str, lines: &[String]) -> Result<String, String> {
    with_block(current, EXPORTS_BEGIN, lines)
}

/// A config file with phoenix's block (from the line `begin` to `# END phoenix`)
/// holding exactly `lines`; everything outside the block is kept. No lines: the
/// block goes away. A block whose end line was deleted is an error: everything
/// after its start would otherwise be taken for phoenix's.
pub fn with_block(current: &str, begin: &str, lines: &[String]) -> Result<String, String> {
    let mut out: Vec<&str> = Vec::new();
    let mut inside = false;
    for l in current.lines() {
        if l == begin {
            inside = true;
        } else if inside && l == END {
            inside = false;
        } else if !inside {
            out.push(l);
        }
    }
    if inside {
        return Err(format!(
            "phoenix's block (from `{begin}`) has no `{END}` line; restore that line where the block ends, then build again"
        ));
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    let mut text = out.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    if !lines.is_empty() {
        text.push_str(begin);
        text.push('\n');
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        text.push_str(END);
        text.push('\n');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_block_keeps_foreign_lines_and_is_idempotent() {
        let theirs = "# mine\n/srv/old 10.1.1.1(ro)\n";
        let lines = vec!["/tank/data 10.0.0.5(rw)".to_string()];
        let once = with_exports(theirs, &lines).unwrap();
        assert!(once.starts_with(theirs), "{once}");
        assert!(once.contains("/tank/data 10.0.0.5(rw)\n# END phoenix\n"));
        assert_eq!(with_exports(&once, &lines).unwrap(), once, "idempotent");
        let changed = with_exports(&once, &["/tank/other *(ro)".to_string()]).unwrap();
        assert!(!changed.contains("/tank/data") && changed.contains("/tank/other"));
        assert_eq!(
            with_exports(&changed, &[]).unwrap(),
            theirs,
            "an empty list removes the block"
        );
        assert_eq!(with_exports("", &[]).unwrap(), "");
        let cut = once.replace("# END phoenix\n", "/srv/later 10.1.1.2(ro)\n");
        assert!(
            with_exports(&cut, &lines)
                .unwrap_err()
                .contains("no `# END phoenix` line"),
            "a block without its end is not guessed at"
        );
    }
}
