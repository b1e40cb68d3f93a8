//! The journal's reading (any block size, damaged lines) and its tidying.

use super::*;
use crate::state::{RecordedManifest, StepRecord};

fn record(node: &str, key: &str) -> NodeRecord {
    let mut rec = NodeRecord::new(node);
    rec.steps.push(StepRecord {
        step: crate::step::Step::Define,
        key: key.into(),
        manifest: RecordedManifest::new(&crate::key::Manifest::from([(
            "kind".to_string(),
            "\"ct\"".to_string(),
        )])),
        finished_at: 1,
    });
    rec
}

#[test]
fn blocks_of_any_size_read_the_same_records_and_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let mut text = Vec::new();
    for (i, (node, key)) in [
        ("ct:900", "a"),
        ("ct:901", "b"),
        ("ct:900", "c"),
        ("ct:902", "d"),
    ]
    .into_iter()
    .enumerate()
    {
        text.extend(serde_json::to_vec(&record(node, key)).unwrap());
        text.push(b'\n');
        if i == 1 {
            // A garbled line, a blank one, and a line of zeros in the middle.
            text.extend(b"{\"version\":1,\"node\":\"ct:9\n\n");
            text.extend([0u8; 40]);
            text.push(b'\n');
        }
    }
    // The newest line of ct:902 torn: it falls back to nothing, and is reported.
    text.extend(&serde_json::to_vec(&record("ct:902", "e")).unwrap()[..30]);
    std::fs::write(&path, &text).unwrap();

    let (whole, damaged) = Journal::read_newest(&path);
    assert!(
        !Journal::tidy(&path).unwrap(),
        "a journal with unusable lines is left for the next command to report"
    );
    assert_eq!(std::fs::read(&path).unwrap(), text);
    assert_eq!(whole["ct:900"].steps[0].key, "c");
    assert_eq!(whole["ct:901"].steps[0].key, "b");
    assert_eq!(whole["ct:902"].steps[0].key, "d");
    assert_eq!(damaged.len(), 3, "{damaged:?}");
    for block in [1, 7, 64, 300] {
        let (records, again) = Journal::read_newest_in(&path, block, |_, rec| rec);
        assert_eq!(records, whole, "block of {block}");
        assert_eq!(again, damaged, "block of {block}");
    }
}

/// A line whose node can be read but whose record cannot is reported only while
/// it is the node's newest; a usable line after it makes it history.
#[test]
fn a_damaged_line_counts_until_its_node_is_recorded_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let mut text = Vec::new();
    let mut line = |rec: &NodeRecord, garble: bool| {
        let mut l = serde_json::to_string(rec).unwrap();
        if garble {
            l = l.replacen("\"steps\":[", "\"steps\":7,\"x\":[", 1);
        }
        text.extend(l.as_bytes());
        text.push(b'\n');
    };
    line(&record("ct:900", "a"), false);
    line(&record("ct:900", "b"), true);
    line(&record("ct:900", "c"), false);
    line(&record("ct:901", "d"), false);
    line(&record("ct:901", "e"), true);
    let mut old = record("ct:901", "f");
    old.version = RECORD_VERSION + 1;
    line(&old, false);
    std::fs::write(&path, &text).unwrap();

    let (records, damaged) = Journal::read_newest(&path);
    assert_eq!(records["ct:900"].steps[0].key, "c");
    assert_eq!(records["ct:901"].steps[0].key, "d");
    assert_eq!(damaged.len(), 2, "{damaged:?}");
    assert!(
        damaged[1].why.contains("record version 2 is not 1"),
        "{damaged:?}"
    );
}

/// A line that is not UTF-8 is damaged, and says what the byte parser says of it;
/// the lines around it, read as text, are the records `serde_json` reads from
/// their bytes, non-ASCII text included.
#[test]
fn a_line_that_is_not_utf8_is_damaged_as_the_byte_parser_says() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let mut before = record("ct:900", "a");
    before.steps[0].step = crate::step::Step::Feature("café_é".into());
    let good = serde_json::to_vec(&before).unwrap();
    let mut bad = serde_json::to_vec(&record("ct:901", "b")).unwrap();
    // `"b"` as the key, its letter made a byte no UTF-8 text holds.
    let at = bad.windows(3).position(|w| w == b"\"b\"").unwrap() + 1;
    bad[at] = 0xff;
    let mut text = good.clone();
    text.push(b'\n');
    text.extend(&bad);
    text.push(b'\n');
    std::fs::write(&path, &text).unwrap();

    let (records, damaged) = Journal::read_newest(&path);
    let from_bytes: NodeRecord = serde_json::from_slice(&good).unwrap();
    assert_eq!(records["ct:900"], from_bytes);
    assert!(!records.contains_key("ct:901"));
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    let said = serde_json::from_slice::<NodeRecord>(&bad)
        .unwrap_err()
        .to_string();
    assert!(
        damaged[0].why.contains(&said),
        "{} lacks {said}",
        damaged[0].why
    );
    assert_eq!(damaged[0].offset, good.len() as u64 + 1);
}

fn journal_of(lines: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let journal = Journal::open(path.clone()).unwrap();
    for (node, key) in lines {
        journal.append(&record(node, key)).unwrap();
    }
    (dir, path)
}

#[test]
fn tidying_keeps_the_newest_line_of_each_node_in_order() {
    let (dir, path) = journal_of(&[
        ("ct:901", "a"),
        ("ct:900", "b"),
        ("ct:901", "c"),
        ("ct:902", "d"),
        ("ct:900", "e"),
        ("ct:900", "f"),
    ]);
    let before = std::fs::read_to_string(&path).unwrap();
    let (records, _) = Journal::read_newest(&path);
    assert!(Journal::tidy(&path).unwrap());
    let after = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = before
        .lines()
        .enumerate()
        .filter(|(i, _)| [2, 3, 5].contains(i))
        .map(|(_, l)| l)
        .collect();
    assert_eq!(
        after.lines().collect::<Vec<_>>(),
        kept,
        "the newest lines, byte for byte, in their order"
    );
    assert_eq!(Journal::read_newest(&path), (records, Vec::new()));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary left"
    );
    // Now every line is live: nothing to do.
    assert!(!Journal::tidy(&path).unwrap());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
}

#[test]
fn a_journal_that_is_a_symlink_is_left_in_place() {
    let (dir, real) = journal_of(&[("ct:900", "a"), ("ct:900", "b"), ("ct:900", "c")]);
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let before = std::fs::read(&real).unwrap();
    assert!(!Journal::tidy(&link).unwrap());
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&real).unwrap(), before);
    assert!(Journal::tidy(&real).unwrap(), "the file itself is tidied");
}

#[test]
fn a_journal_mostly_live_is_not_rewritten() {
    let (_dir, path) = journal_of(&[("ct:900", "a"), ("ct:901", "b"), ("ct:900", "c")]);
    let before = std::fs::read(&path).unwrap();
    assert!(!Journal::tidy(&path).unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), before);
}
