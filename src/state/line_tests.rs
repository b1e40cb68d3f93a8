//! The line reader against `serde_json`: the same record from every line phoenix
//! writes, and never a record `serde_json` would not read from a damaged one.

use super::read;
use crate::key::{Manifest, NodeKeys, StepKey};
use crate::state::{NodeRecord, RecordedKey, RecordedManifest};
use crate::step::Step;

fn manifest(pairs: &[(&str, &str)]) -> Manifest {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn step(step: Step, key: u8, m: Manifest) -> StepKey {
    StepKey {
        step,
        key: crate::key::Key([key; 32]),
        manifest: m,
    }
}

/// Records as phoenix writes them, of every shape a field can take.
fn records() -> Vec<NodeRecord> {
    let awkward = manifest(&[
        ("kind", "\"ct\""),
        ("name", "\"a \\\"quoted\\\" name\""),
        ("net", "{\"ip\":\"10.0.0.1/8\",\"tag\":\"é 日本\"}"),
        ("control", "\"\u{1}\u{1f}\t\n\r\u{8}\u{c}/\\\\\""),
        ("script features/lxc/base_setup.sh", "\"blake3:00ff\""),
    ]);
    let keys = NodeKeys {
        chain: vec![
            step(Step::Define, 1, awkward.clone()),
            step(Step::Feature("base_setup".into()), 2, Manifest::new()),
            step(Step::Snapshot, 3, manifest(&[("x", "1")])),
        ],
        configure: Some(step(Step::Configure, 4, awkward)),
    };
    let mut out = vec![
        NodeRecord::new("ct:900"),
        NodeRecord::built("vm:9000", &keys),
    ];
    let mut r = NodeRecord::built("ct:901", &keys);
    r.configure = None;
    r.recovered = true;
    r.started = Some(Step::Feature("docker".into()));
    r.updated_at = u64::MAX;
    r.steps[0].finished_at = 0;
    r.steps[1].manifest = RecordedManifest::unknown();
    out.push(r);
    let mut r = NodeRecord::built("ct:902", &keys);
    r.started = Some(Step::App);
    r.version = 7;
    out.push(r);
    out
}

fn line(rec: &NodeRecord) -> String {
    let mut text = serde_json::to_string(rec).unwrap();
    text.push('\n');
    text
}

/// What `serde_json` reads from `text`, written out again: the manifests as
/// their texts, so two records written the same are the same to the byte.
fn written(rec: &NodeRecord) -> String {
    serde_json::to_string(rec).unwrap()
}

#[test]
fn every_line_phoenix_writes_is_read_as_serde_json_reads_it() {
    for rec in records() {
        let text = line(&rec);
        let fast = read(&text, None).unwrap_or_else(|| panic!("not read: {text}"));
        let slow: NodeRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(written(&fast), written(&slow));
        assert_eq!(written(&fast), written(&rec));
        assert_eq!(fast, rec);
    }
}

#[test]
fn lines_in_another_form_are_left_to_serde_json() {
    let text = line(&records()[1]);
    for other in [
        text.replacen("{\"version\":1,", "{ \"version\":1,", 1),
        text.replacen("\"version\":1", "\"version\":01", 1),
        text.replacen("\"version\":1", "\"version\":1.0", 1),
        text.replacen("\"node\":\"vm:9000\"", "\"node\":\"vm:\\u0039000\"", 1),
        text.replacen("\"step\":\"define\"", "\"step\":\"defined\"", 1),
        text.replacen("\"kind\":", "\"kind\" :", 1),
        text.replacen("\"updated_at\"", "\"extra\":0,\"updated_at\"", 1),
        text.replacen('\n', " x\n", 1),
        text.replacen("\"x\":\"1\"", "\"x\":1", 1),
    ] {
        assert_ne!(other, text);
        assert!(read(&other, None).is_none(), "{other}");
    }
}

/// A small fixed-seed generator: the same damage on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
}

/// What damage inserts: JSON's own characters, escapes good and bad, numbers,
/// space, control characters and text beyond ASCII.
const PIECES: &[&str] = &[
    "\"",
    "\\",
    "\\\"",
    "\\u",
    "\\u00e9",
    "\\ud800",
    "\\x",
    "\\n",
    "0",
    "9",
    "-",
    ".",
    "e",
    ",",
    ":",
    "{",
    "}",
    "[",
    "]",
    " ",
    "\n",
    "\t",
    "\u{1}",
    "null",
    "true",
    "é",
    "a",
    "1e3",
    "18446744073709551616",
    "{\"a\":\"b\"}",
    "feature:",
];

/// `text` with one piece of damage: characters cut out, a piece put in, or a
/// character replaced by a piece.
fn damage(text: &str, rng: &mut Rng) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = rng.below(chars.len());
    let piece = PIECES[rng.below(PIECES.len())];
    let (head, tail): (String, String) = match rng.below(3) {
        0 => {
            let cut = 1 + rng.below(3);
            (
                chars[..at].iter().collect(),
                chars[(at + cut).min(chars.len())..].iter().collect(),
            )
        }
        1 => (
            chars[..at].iter().collect::<String>() + piece,
            chars[at..].iter().collect(),
        ),
        _ => (
            chars[..at].iter().collect::<String>() + piece,
            chars[at + 1..].iter().collect(),
        ),
    };
    head + &tail
}

#[test]
fn a_damaged_line_is_read_only_where_serde_json_reads_the_same_record() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut read_here, mut left) = (0, 0);
    for rec in records() {
        let text = line(&rec);
        for _ in 0..6_000 {
            let mut bad = damage(&text, &mut rng);
            if rng.below(4) == 0 {
                bad = damage(&bad, &mut rng);
            }
            match read(&bad, None) {
                Some(fast) => {
                    let slow: NodeRecord = serde_json::from_str(&bad)
                        .unwrap_or_else(|e| panic!("read here, not by serde_json ({e}): {bad}"));
                    assert_eq!(written(&fast), written(&slow), "{bad}");
                    read_here += 1;
                }
                None => left += 1,
            }
        }
    }
    // Both ways were taken: damage inside a manifest's strings, or to a number,
    // can leave a record; most damage does not.
    assert!(read_here > 1_000, "{read_here} read here");
    assert!(left > 10_000, "{left} left to serde_json");
}

/// A step key in any form phoenix does not write (uppercase digits, a letter
/// that is no digit, one digit short) is read here as `serde_json` reads it and
/// written back to the byte; only phoenix's own form is held as bytes.
#[test]
fn a_key_in_another_form_is_read_and_written_back_as_it_was() {
    let text = line(&records()[1]);
    let key = "01".repeat(32);
    assert!(text.contains(&format!("\"key\":\"{key}\"")));
    let lower = "ab".repeat(32);
    let upper = "AB".repeat(32);
    let not_hex = format!("0g{}", "01".repeat(31));
    let short = "01".repeat(32)[1..].to_string();
    for (other, held) in [
        (lower, true),
        (upper, false),
        (not_hex, false),
        (short, false),
    ] {
        let changed = text.replacen(&key, &other, 1);
        assert_ne!(changed, text);
        let fast = read(&changed, None).unwrap_or_else(|| panic!("not read: {changed}"));
        let slow: NodeRecord = serde_json::from_str(&changed).unwrap();
        assert_eq!(fast, slow);
        assert_eq!(
            matches!(fast.steps[0].key, RecordedKey::Hex(_)),
            held,
            "{other}"
        );
        assert_eq!(fast.steps[0].key, other.as_str());
        assert_eq!(line(&fast), changed);
    }
}
