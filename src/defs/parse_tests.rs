//! Tests of `defs::parse`.

use super::*;

/// The fields of `parsed` as the object `serde_json` parses has them.
fn as_map(parsed: Parsed<'_>) -> Value {
    match parsed {
        Ok(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v))
                .collect(),
        ),
        Err(other) => {
            assert!(!other.is_object(), "an object is read as its fields");
            other
        }
    }
}

/// A guest's fields are its object's as `serde_json` parses it, in name order;
/// anything else is its value.
#[test]
fn guests_are_what_serde_json_parses() {
    for text in [
        r#"{"b":1,"a":[true,null,-3,2.5,1.5e300],"c":{"x":"y\u00e9","n":18446744073709551615}}"#,
        r#"{"k\u0065y":1,"kex":2,"kez":{},"":null,"é":"", "ke":3}"#,
        r#"[{"a":{"b":{"c":[[]]}}},"",0]"#,
        r#""just a string""#,
        "{}",
        "7",
    ] {
        let (parsed, repeated) = guest(text).unwrap();
        if let Ok(fields) = &parsed {
            assert!(fields.windows(2).all(|w| w[0].0 < w[1].0), "{text}");
        }
        let plain: Value = serde_json::from_str(text).unwrap();
        assert_eq!(as_map(parsed), plain, "{text}");
        assert!(!repeated, "{text}");
    }
}

#[test]
fn a_repeated_key_anywhere_is_noticed_and_the_last_value_kept() {
    let (parsed, repeated) = guest(r#"{"a":{"m":1,"m":2},"b":[{"k":0}]}"#).unwrap();
    assert!(repeated);
    assert_eq!(as_map(parsed)["a"]["m"], 2);
    let (parsed, repeated) = guest(r#"{"b":1,"a":2,"b":3,"c":4,"b":5}"#).unwrap();
    assert!(repeated, "the guest's own fields");
    let fields = parsed.unwrap();
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(fields[1].1, 5);
    let (_, repeated) = guest(r#"{"a":{"m":1},"b":[{"m":1}],"m":1}"#).unwrap();
    assert!(!repeated, "the same key in two objects is no repeat");
}

/// Names sort as strings do, whether they differ in their first eight bytes
/// or after, are shorter than eight or hold a zero byte.
#[test]
fn names_sort_as_strings_do() {
    let names = [
        "storage_size_gb",
        "storage_pool",
        "storage_",
        "storage",
        "s",
        "",
        "a\0",
        "a",
        "a\0\0\0\0\0\0\0\0",
        "template",
        "template_snapshot_name",
        "é",
        "zz",
        "\u{7f}",
    ];
    let entries: Vec<(Cow<'_, str>, usize)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (Cow::Borrowed(*n), i))
        .collect();
    let (sorted, repeated) = as_object(entries);
    assert!(!repeated);
    let mut want: Vec<&str> = names.to_vec();
    want.sort_unstable();
    let got: Vec<&str> = sorted.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(got, want);
}

/// Short lists (sorted by insertion) and long ones (by the standard sort) come
/// out as an object keeps them: sorted, the last value of a repeated key kept.
#[test]
fn short_and_long_lists_are_kept_as_an_object_keeps_them() {
    let pool = [
        "memory_mb",
        "memory",
        "cores",
        "net0",
        "net1",
        "name",
        "a",
        "",
        "storage_pool",
        "storage_poo",
        "storage_pool_x",
        "zz",
        "é",
    ];
    for n in [0, 1, 2, 5, 31, 32, 33, 64, 100] {
        let names: Vec<&str> = (0..n).map(|i| pool[(i * 7 + i / 3) % pool.len()]).collect();
        let entries: Vec<(Cow<'_, str>, usize)> = names
            .iter()
            .enumerate()
            .map(|(i, k)| (Cow::Borrowed(*k), i))
            .collect();
        let (got, repeated) = as_object(entries);
        let mut want = std::collections::BTreeMap::new();
        for (i, k) in names.iter().enumerate() {
            want.insert(*k, i);
        }
        let got: Vec<(&str, usize)> = got.iter().map(|(k, i)| (k.as_ref(), *i)).collect();
        let want: Vec<(&str, usize)> = want.into_iter().collect();
        assert_eq!(got, want, "{n} entries");
        assert_eq!(repeated, want.len() != n, "{n} entries");
    }
}
