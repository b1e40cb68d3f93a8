//! The host's side of a container's id map: the subordinate id files
//! (`/etc/subuid`, `/etc/subgid`) that say which host ids root may map.
//!
//! LXC sets up an unprivileged container's user namespace through shadow's
//! `newuidmap`/`newgidmap`, which refuse any range of the map that root is not
//! given in those files ("newgidmap: gid range [33-34) -> [33-34) not allowed", and
//! the container does not start). A Proxmox host gives root the block of its
//! default map (`root:100000:65536`); a custom map needs a `root:<host id>:<count>`
//! line for every other range (Proxmox wiki, "Unprivileged LXC containers", the
//! custom idmap example). phoenix appends the lines that are missing and never
//! removes or rewrites a line.

use crate::defs::IdRange;

use super::super::cmd::Cmd;

/// Appends each line argument after the file (`$1`) that the file does not have
/// yet, starting a new line first where the file does not end with one. Appending,
/// not rewriting, so two containers' builds writing at once lose nothing.
pub const APPEND_MISSING_LINES: &str = "f=$1; shift; for l; do grep -qxF -e \"$l\" \"$f\" 2>/dev/null && continue; [ ! -s \"$f\" ] || [ -z \"$(tail -c 1 \"$f\")\" ] || echo >> \"$f\"; printf \"%s\\n\" \"$l\" >> \"$f\" || exit 1; done";

/// The `root:<host>:<count>` lines the subordinate id file `text` lacks for root to
/// map every range of `ranges`, in their order.
pub fn missing_subids(text: &str, ranges: &[IdRange]) -> Vec<String> {
    let root: Vec<(u64, u64)> = text
        .lines()
        .filter_map(|l| {
            let mut parts = l.trim().split(':');
            let (owner, start, count) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || !matches!(owner, "root" | "0") {
                return None;
            }
            Some((start.parse().ok()?, count.parse().ok()?))
        })
        .collect();
    let mut out: Vec<String> = Vec::new();
    for r in ranges {
        let line = format!("root:{}:{}", r.host, r.size);
        if !allowed(&root, u64::from(r.host), u64::from(r.size)) && !out.contains(&line) {
            out.push(line);
        }
    }
    out
}

/// Whether root may map host ids `start..start+count` by its entries `root`, as
/// `newuidmap` decides: its own id (0) alone, or a run of entries back to back
/// that holds all of them (shadow `lib/subordinateio.c` `have_range`).
fn allowed(root: &[(u64, u64)], start: u64, count: u64) -> bool {
    if start == 0 && count == 1 {
        return true;
    }
    let end = start.saturating_add(count);
    let mut at = start;
    while at < end {
        // Saturating: the numbers come from a file on the host.
        let Some(next) = root
            .iter()
            .map(|(s, c)| (*s, s.saturating_add(*c)))
            .find(|(s, e)| *s <= at && at < *e)
            .map(|(_, e)| e)
        else {
            return false;
        };
        at = next;
    }
    true
}

/// Append `lines` to the file at `path` where it does not have them (see
/// [`APPEND_MISSING_LINES`]).
pub fn append_subids(path: &str, lines: &[String]) -> Cmd {
    let mut cmd = Cmd::new(["sh", "-c", APPEND_MISSING_LINES, "sh", path]);
    cmd.argv.extend(lines.iter().cloned());
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defs::IdKind;

    fn gid(container: u32, host: u32, size: u32) -> IdRange {
        IdRange {
            kind: IdKind::Gid,
            container,
            host,
            size,
        }
    }

    #[test]
    fn only_ranges_root_may_not_map_yet_are_missing() {
        let text = "root:100000:65536\nbob:33:1\nroot:1000:2\n0:2000:1\nroot:2001:9\n";
        // Another user's entry does not count; root's own range, back to back
        // entries (2000 and 2001..2009) and root's own id 0 do.
        assert_eq!(missing_subids(text, &[gid(33, 33, 1)]), ["root:33:1"]);
        assert!(missing_subids(text, &[gid(1000, 1000, 2), gid(5, 2000, 10)]).is_empty());
        assert!(missing_subids(text, &[gid(0, 0, 1)]).is_empty());
        assert_eq!(
            missing_subids(text, &[gid(1000, 1000, 3), gid(7, 1000, 3)]),
            ["root:1000:3"],
            "one line for one range, even asked twice"
        );
        assert_eq!(missing_subids("", &[gid(33, 33, 1)]), ["root:33:1"]);
        assert!(missing_subids("root:33:1", &[gid(33, 33, 1)]).is_empty());
        // Whatever the file holds, no overflow.
        let huge = format!("root:{}:{}\nroot:x:1\nroot:1:2:3\n", u64::MAX, u64::MAX);
        assert_eq!(missing_subids(&huge, &[gid(33, 33, 1)]), ["root:33:1"]);
    }

    /// The append, for real: only what is missing, on a line of its own, twice
    /// changes nothing, other lines stay.
    #[test]
    fn the_append_adds_only_missing_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subgid");
        let file = path.display().to_string();
        std::fs::write(&path, "root:100000:65536\nbob:33:1").unwrap();
        let run = |lines: &[&str]| {
            let lines: Vec<String> = lines.iter().map(|l| (*l).to_string()).collect();
            let c = append_subids(&file, &lines);
            let ok = std::process::Command::new(&c.argv[0])
                .args(&c.argv[1..])
                .status()
                .unwrap()
                .success();
            assert!(ok);
            std::fs::read_to_string(&path).unwrap()
        };
        let want = "root:100000:65536\nbob:33:1\nroot:33:1\nroot:1000:2\n";
        assert_eq!(run(&["root:33:1", "root:1000:2"]), want);
        assert_eq!(run(&["root:33:1", "root:100000:65536"]), want);
        // A file that does not exist yet is made.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(run(&["root:33:1"]), "root:33:1\n");
    }
}
