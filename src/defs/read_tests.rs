//! Tests of `defs::read`.

use serde_json::{Map, Value, json};

use super::{Fields, bits, hash};
use crate::defs::{GuestKind, fields};

/// Every name a reader asks for, of either kind, and some no reader does.
fn names() -> Vec<&'static str> {
    let mut all = fields::known_names(GuestKind::Ct);
    all.extend(fields::known_names(GuestKind::Vm));
    // The last two hash as `storage_pool` and `memory_mb` do.
    all.extend([
        "",
        "x",
        "é",
        "memory_mb ",
        "MEMORY_MB",
        "storage_pool2",
        "storage_poxl",
        "memory_xb",
    ]);
    all.sort_unstable();
    all.dedup();
    all
}

/// The filter never hides a field that is there (a `null` one too), a name
/// is not taken for another of its hash, and a guest's fields, made from the
/// object or from the list of its fields, answer every name as the object does
/// and go in its order.
#[test]
fn a_guests_fields_answer_as_its_object() {
    let all = names();
    assert_eq!(hash("storage_pool"), hash("storage_poxl"));
    assert_eq!(hash("memory_mb"), hash("memory_xb"));
    for (step, offset) in [(2, 0), (2, 1), (3, 2), (7, 3), (1, 0)] {
        let mut map = Map::new();
        for (i, name) in all.iter().enumerate().skip(offset).step_by(step) {
            let value = if i % 5 == 0 { Value::Null } else { json!(i) };
            map.insert((*name).to_string(), value);
        }
        let list: Vec<(std::borrow::Cow<'_, str>, Value)> = map
            .iter()
            .map(|(k, v)| (k.as_str().into(), v.clone()))
            .collect();
        for fields in [Fields::new(&map), Fields::of(&list)] {
            for name in &all {
                assert_eq!(fields.get(name), map.get(*name), "{name:?}");
            }
            assert!(fields.iter().eq(map.iter().map(|(k, v)| (k.as_str(), v))));
        }
    }
    let one: Map<String, Value> = [("storage_poxl".to_string(), json!(1))]
        .into_iter()
        .collect();
    assert_eq!(Fields::new(&one).get("storage_pool"), None);
}

/// What the filter is for: of the names a guest does not have, most are
/// answered without a search.
#[test]
fn most_fields_a_guest_lacks_are_answered_by_the_filter() {
    let all = names();
    let have = [
        "name",
        "memory_mb",
        "cores",
        "template",
        "storage_pool",
        "storage_size_gb",
        "network_config",
        "mac_address",
        "gpu_assignment",
        "unprivileged",
        "features",
        "clone_from_ctid",
        "template_snapshot_name",
        "dependencies",
    ];
    let seen = have.iter().fold(0, |s, k| s | bits(hash(k)));
    let lacking: Vec<_> = all.iter().filter(|n| !have.contains(n)).collect();
    let passed = lacking
        .iter()
        .filter(|n| seen & bits(hash(n)) == bits(hash(n)))
        .count();
    assert!(
        passed * 5 < lacking.len(),
        "{passed} of {} absent names got through",
        lacking.len()
    );
}
