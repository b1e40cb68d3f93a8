//! Manifests kept as their places in the journal: read back as written, after
//! the journal is tidied or compacted too, and never as another line's text.

use std::path::Path;

use super::{RecordedManifest, Text, hex16};
use crate::key::{Key, Manifest, NodeKeys, StepKey};
use crate::state::{NodeRecord, StateDir};
use crate::step::Step;

fn manifest(pairs: &[(&str, &str)]) -> Manifest {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// A built record of `node` whose manifests name `tag`, with keys from `seed`.
fn built(node: &str, tag: &str, seed: u8) -> NodeRecord {
    let step = |step: Step, n: u8, m: Manifest| StepKey {
        step,
        key: Key([seed.wrapping_add(n); 32]),
        manifest: m,
    };
    let define = manifest(&[
        ("kind", "\"ct\""),
        ("name", &format!("\"{tag} \\\"quoted\\\" é\"")),
        ("net", "{\"ip\":\"10.0.0.1/8\"}"),
    ]);
    let keys = NodeKeys {
        chain: vec![
            step(Step::Define, 0, define),
            step(Step::Feature("base_setup".into()), 1, Manifest::new()),
        ],
        configure: Some(step(Step::Configure, 2, manifest(&[("cores", tag)]))),
    };
    NodeRecord::built(node, &keys)
}

fn in_journal(m: &RecordedManifest) -> bool {
    matches!(m.0, Text::Journal { .. })
}

/// Every manifest of `records`, parsed, and as JSON.
fn manifests(records: &crate::state::RecordMap) -> Vec<(String, Manifest, String)> {
    let mut out: Vec<_> = records
        .values()
        .flat_map(|r| r.steps.iter().chain(&r.configure).map(move |s| (r, s)))
        .map(|(r, s)| {
            let json = serde_json::to_string(&s.manifest).expect("the manifest is written");
            (format!("{} {}", r.node, s.step), s.manifest.parse(), json)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn written(dir: &Path, records: &[NodeRecord]) -> StateDir {
    let state = StateDir::new(dir);
    state.append_all(records).expect("the records are appended");
    state
}

/// Read from the journal, manifests are places in it, and read back as the
/// manifests written; so they still are once the journal is tidied or
/// compacted (a new file renamed over it), and written out again they are the
/// same JSON.
#[test]
fn places_read_back_what_was_written_after_a_tidy_and_a_compaction() {
    let dir = tempfile::tempdir().unwrap();
    // Every record twice, an older line first: the journal is mostly stale.
    // About a megabyte of lines, a manifest of 70 KB among them.
    let made = |tag: &str, seed: u8| -> Vec<NodeRecord> {
        let mut out: Vec<NodeRecord> = (0..1000u32)
            .map(|i| {
                built(
                    &format!("ct:{}", 900 + i),
                    tag,
                    seed.wrapping_add(i.to_le_bytes()[0]),
                )
            })
            .collect();
        out.push(built("ct:2000", &"x".repeat(70_000), seed));
        out
    };
    let (old, new) = (made("old", 0), made("new", 100));
    let state = written(dir.path(), &old);
    state.append_all(&new).unwrap();
    let read = state.read_all().unwrap();
    let expected: Vec<_> = {
        let mut map = crate::state::RecordMap::default();
        for r in &new {
            map.insert(r.node.clone(), r.clone());
        }
        manifests(&map)
    };
    assert!(
        read.records
            .values()
            .all(|r| r.steps.iter().all(|s| in_journal(&s.manifest)))
    );
    assert_eq!(manifests(&read.records), expected);
    assert!(
        state.tidy_journal().unwrap(),
        "half the lines are stale: tidied"
    );
    assert_eq!(manifests(&read.records), expected, "after the tidy");
    // Read again from the tidied journal, which the compaction then empties.
    let tidied = state.read_all().unwrap();
    state.compact().unwrap();
    assert_eq!(
        std::fs::metadata(dir.path().join("journal")).unwrap().len(),
        0
    );
    assert_eq!(manifests(&tidied.records), expected, "after the compaction");
    assert_eq!(manifests(&read.records), expected);
    // The node files the compaction wrote hold the same manifests.
    assert_eq!(manifests(&state.read_all().unwrap().records), expected);
}

/// A journal cut and written again in place holds other text where a manifest
/// was: the key before it tells, and the manifest reads as unreadable (no
/// inputs) and cannot be written out, never as the other line's manifest.
#[test]
fn a_place_that_no_longer_holds_the_manifest_is_not_read_as_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = written(dir.path(), &[built("ct:900", "one", 1)]);
    let read = state.read_all().unwrap();
    let step = &read.records["ct:900"].steps[0];
    assert!(in_journal(&step.manifest) && !step.manifest.parse().is_empty());
    // The same node, the same shapes and lengths, other keys and values.
    let other = serde_json::to_string(&built("ct:900", "two", 7)).unwrap();
    std::fs::write(dir.path().join("journal"), format!("{other}\n")).unwrap();
    assert!(step.manifest.parse().is_empty());
    assert!(serde_json::to_string(&step.manifest).is_err());
    assert!(!step.manifest.is_unknown());
    // Cut short: nothing there at all.
    std::fs::write(dir.path().join("journal"), b"").unwrap();
    assert!(step.manifest.parse().is_empty());
}

/// A journal that is a symlink is cut in place by a compaction: its manifests
/// are copied as they are read, and stay readable.
#[test]
fn a_symlinked_journal_s_manifests_are_copied() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, b"").unwrap();
    let root = dir.path().join("state");
    std::fs::create_dir(&root).unwrap();
    std::os::unix::fs::symlink(&target, root.join("journal")).unwrap();
    let rec = built("ct:900", "one", 1);
    let state = written(&root, std::slice::from_ref(&rec));
    let read = state.read_all().unwrap();
    let step = &read.records["ct:900"].steps[0];
    assert!(!in_journal(&step.manifest));
    state.compact().unwrap();
    assert_eq!(std::fs::metadata(&target).unwrap().len(), 0, "cut in place");
    assert_eq!(step.manifest.parse(), rec.steps[0].manifest.parse());
}

/// A line whose step keys are not 64 hex digits (written by hand, or by
/// something else) is read with its manifests copied: the place of a manifest
/// is found from a key of that length.
#[test]
fn a_manifest_after_a_key_of_another_length_is_copied() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = built("ct:900", "one", 1);
    for (s, key) in rec.steps.iter_mut().zip(["0123456789abcdef0123", "a"]) {
        s.key = key.into();
    }
    let state = written(dir.path(), std::slice::from_ref(&rec));
    let read = state.read_all().unwrap();
    let got = &read.records["ct:900"];
    assert!(got.steps.iter().all(|s| !in_journal(&s.manifest)));
    assert!(got.configure.iter().all(|s| in_journal(&s.manifest)));
    std::fs::write(dir.path().join("journal"), b"").unwrap();
    for (got, want) in got.steps.iter().zip(&rec.steps) {
        assert_eq!(got.manifest.parse(), want.manifest.parse());
    }
}

#[test]
fn the_key_s_first_sixteen_hex_digits() {
    assert_eq!(hex16(b"0123456789abcdef"), Some(0x0123_4567_89ab_cdef));
    assert_eq!(hex16(b"FEDCBA9876543210ffff"), Some(0xfedc_ba98_7654_3210));
    assert_eq!(hex16(b"0123456789abcde"), None, "fifteen digits");
    assert_eq!(hex16(b"0123456789abcdeg"), None);
    assert_eq!(hex16(b"a"), None);
}
