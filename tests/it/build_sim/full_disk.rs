//! A full disk under the state directory (GitHub issue 15), on a real filesystem
//! that fills up: the cache is a small tmpfs, and a feature script fills it in the
//! middle of the build. Mounting needs root; elsewhere the test says it skipped.
//! (`src/exec/tests.rs` covers the same rule everywhere, with `/dev/full`.)

use std::path::{Path, PathBuf};
use std::process::Command;

use phoenix::key::Manifest;
use phoenix::state::{NodeRecord, RecordedManifest, StateDir, StepRecord};

use super::{SimSite, tree};

/// A tmpfs mounted on a directory for the length of a test.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs on {} (needs root)",
                dir.display()
            );
        }
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Every guest stamped `built:<key>` on the simulated host has a record whose last
/// step has that key.
fn every_built_stamp_is_recorded(t: &SimSite) {
    let records = StateDir::new(&t.cache).read_all().unwrap().records;
    let guests: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.sim.join("guests.json")).unwrap()).unwrap();
    for g in guests.as_array().unwrap() {
        let node = g["node"].as_str().unwrap();
        // The stamp's first line; the lines after it are its proof (every step's key).
        let first = g["stamp"]
            .as_str()
            .unwrap()
            .lines()
            .next()
            .unwrap_or_default();
        if let Some(key) = first.strip_prefix("built:") {
            assert_eq!(
                records
                    .get(node)
                    .and_then(|r| r.last_key())
                    .map(phoenix::state::RecordedKey::text),
                Some(key.to_string()),
                "{node} is stamped built with a key the state did not record"
            );
        }
    }
}

#[test]
fn a_full_disk_fails_the_guest_it_stops_and_the_next_build_resumes_it() {
    let t = tree();
    let Some(_cache) = Tmpfs::mount(&t.cache, "1m") else {
        return;
    };
    let (filler, marker) = (t.cache.join("filler"), t.path().join("filled"));
    std::fs::write(
        t.defs.join("features/lxc/gpu.sh"),
        format!(
            "#!/bin/sh\n[ -e {m} ] && exit 0\ntouch {m}\ndd if=/dev/zero of={f} bs=4096 2>/dev/null\nexit 0\n",
            m = marker.display(),
            f = filler.display()
        ),
    )
    .unwrap();
    let build = |code| {
        t.phoenix()
            .env("PHOENIX_SIM_EXEC", "1")
            .args(["build", "910", "-j", "1", "--output", "json"])
            .run()
            .code(code)
    };

    let out = build(1);
    assert!(filler.exists(), "the feature script filled the disk");
    let s = out.summary();
    assert_eq!(s["nodes"]["ct:900"], "built");
    assert_eq!(s["nodes"]["ct:901"], "failed");
    assert_eq!(s["nodes"]["ct:910"], "skipped");
    let failed = out.finished("ct:901");
    let detail = failed["detail"].as_str().unwrap();
    assert!(
        detail.contains("cannot record the progress of ct:901")
            && detail.contains("No space left on device"),
        "{failed}"
    );
    assert!(
        !t.ops()
            .iter()
            .any(|o| o.node == "ct:901" && o.op == "stamp"),
        "ct:901 was stamped although its progress was not recorded"
    );
    every_built_stamp_is_recorded(&t);

    // With room again, the next build finishes what the full disk stopped.
    std::fs::remove_file(&filler).unwrap();
    let out = build(0);
    assert_eq!(out.summary()["nodes"]["ct:901"], "built");
    assert_eq!(out.summary()["nodes"]["ct:910"], "built");
    assert!(out.steps_of("ct:900").is_empty(), "900 was complete");
    every_built_stamp_is_recorded(&t);
    assert_eq!(build(0).summary()["steps_run"], 0);
}

/// A record of `node` whose serialised line (newline included) is `len` bytes long.
fn record_of_len(node: &str, len: usize) -> NodeRecord {
    let with = |pad: usize| {
        let mut r = NodeRecord::new(node);
        r.updated_at = 0;
        r.steps.push(StepRecord {
            step: phoenix::step::Step::Define,
            key: "k".into(),
            manifest: RecordedManifest::new(&Manifest::from([("pad".into(), "x".repeat(pad))])),
            finished_at: 0,
        });
        r
    };
    let base = serde_json::to_vec(&with(0)).unwrap().len() + 1;
    let r = with(len - base);
    assert_eq!(serde_json::to_vec(&r).unwrap().len() + 1, len);
    r
}

/// A record that does not fit leaves nothing of itself in the journal. Here the disk
/// has room for all of it but its newline: left there, it would read as recorded
/// although writing it failed (and the node it stands for had failed).
#[test]
fn a_record_the_disk_cannot_hold_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_fs) = Tmpfs::mount(dir.path(), "4k") else {
        return;
    };
    let state = StateDir::new(dir.path());
    let journal = state.journal().unwrap();
    journal.append(&record_of_len("ct:900", 3000)).unwrap();
    let err = journal
        .append(&record_of_len("ct:901", 4096 - 3000 + 1))
        .unwrap_err();
    assert!(err.to_string().contains("No space left"), "{err}");
    assert_eq!(
        std::fs::metadata(dir.path().join("journal")).unwrap().len(),
        3000
    );
    let records = state.read_all().unwrap().records;
    assert!(records.contains_key("ct:900"));
    assert!(
        !records.contains_key("ct:901"),
        "a record whose write failed reads as recorded"
    );
}
