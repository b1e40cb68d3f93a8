//! Every step key of the bundled definitions and of the shared fixture sets, pinned.
//!
//! A key is what decides whether a guest on a real host is rebuilt, so a refactor that
//! changes one silently would rebuild (or replace) guests for nothing. Any change to
//! these snapshots must be deliberate: a new input, a new step, a documented revision.

use std::fmt::Write;
use std::path::Path;

use phoenix::defs::{KeyTexts, Severity};
use phoenix::state::StateDir;

use crate::helpers::{bundled_defs, defs_with_scripts, fixture};

/// `node step key` for every step of every node, in build order: the same whether
/// the guests' key texts were written as they were read or when the keys asked.
fn key_table(defs: &Path) -> String {
    let now = key_table_with(defs, KeyTexts::Now);
    assert_eq!(now, key_table_with(defs, KeyTexts::WhenAsked));
    now
}

/// [`key_table`], the key texts written when `texts` says.
fn key_table_with(defs: &Path, texts: KeyTexts) -> String {
    let loaded = phoenix::pipeline::load_with(defs, Severity::Error, texts);
    assert!(!loaded.diags.has_errors(), "{:?}", loaded.diags);
    let cache = tempfile::tempdir().unwrap();
    let assessed = phoenix::pipeline::assess(&loaded, &[], &StateDir::new(cache.path())).unwrap();
    let mut out = String::new();
    for node in &assessed.order {
        let keys = &assessed.keys[node];
        for step in keys.chain.iter().chain(keys.configure.iter()) {
            writeln!(
                out,
                "{:<14} {:<24} {}",
                node.to_string(),
                step.step,
                step.key.hex()
            )
            .unwrap();
        }
    }
    out
}

#[test]
fn bundled_definitions_keys_are_unchanged() {
    insta::assert_snapshot!("graph-defs", key_table(&bundled_defs()));
}

#[test]
fn fixture_keys_are_unchanged() {
    for name in ["phoenix-2025-09", "phoenix-2025-11"] {
        let Some(src) = fixture(name) else { return };
        let defs = defs_with_scripts(&src);
        insta::assert_snapshot!(name, key_table(defs.path()));
    }
}

/// The converted-template fixture's keys (their own snapshot elsewhere: the plans
/// of `fixture_plans`) are the same with the key texts written when asked.
#[test]
fn key_texts_written_when_asked_give_the_same_keys() {
    let Some(src) = fixture("phoenix-2025-11-templates") else {
        return;
    };
    let defs = defs_with_scripts(&src);
    let table = key_table(defs.path());
    assert!(table.lines().count() > 10, "{table}");
}
