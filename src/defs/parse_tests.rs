//! Tests of `defs::parse`.

use super::*;

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_string()).unwrap()
}

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
        let text_raw = raw(text);
        let (parsed, repeated) = guest(&text_raw).unwrap();
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
    let nested = raw(r#"{"a":{"m":1,"m":2},"b":[{"k":0}]}"#);
    let (parsed, repeated) = guest(&nested).unwrap();
    assert!(repeated);
    assert_eq!(as_map(parsed)["a"]["m"], 2);
    let own = raw(r#"{"b":1,"a":2,"b":3,"c":4,"b":5}"#);
    let (parsed, repeated) = guest(&own).unwrap();
    assert!(repeated, "the guest's own fields");
    let fields = parsed.unwrap();
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(fields[1].1, 5);
    let (_, repeated) = guest(&raw(r#"{"a":{"m":1},"b":[{"m":1}],"m":1}"#)).unwrap();
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

fn guests(top: TopEntries<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, item) in top {
        if let Top::Guests(e) = item {
            assert_eq!(key, "lxc_configs");
            out.extend(
                e.into_iter()
                    .map(|(k, v)| (k.into_owned(), v.get().to_string())),
            );
        }
    }
    out
}

#[test]
fn the_guests_keep_their_text_and_an_object_keeps_the_last_of_a_key() {
    let text = r#" {"lxc_configs": {"900": {"name": "a"}, "10\u0030": 1, "900": {"name":"b"}}, "x": {"m":1,"m":2}} "#;
    let (top, repeated) = containers_file(text).expect("an object");
    assert!(
        repeated,
        "the repeat inside `x`, a parsed value, is noticed"
    );
    let e = guests(top);
    assert_eq!(e.len(), 3);
    assert_eq!(e[1].0, "100", "escapes in keys are decoded");
    assert_eq!(e[0].1, r#"{"name": "a"}"#);
    let text = r#"{"lxc_configs": {"900": {"name": "a"}, "10\u0030": 1, "900": {"name":"b"}}}"#;
    let (top, repeated) = containers_file(text).unwrap();
    assert!(!repeated, "a repeated guest is not inside a parsed value");
    let Some((_, Top::Guests(e))) = top.into_iter().next() else {
        panic!("lxc_configs is cut into guests");
    };
    let (obj, repeated) = as_object(e);
    assert!(repeated);
    let keys: Vec<&str> = obj.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(keys, ["100", "900"]);
    assert_eq!(obj[1].1.get(), r#"{"name":"b"}"#);
}

#[test]
fn only_an_object_lxc_configs_is_cut_and_anything_else_is_parsed() {
    let text =
        r#"{"a": [1, {"b": null}], "lxc_configs": "none", "lxc_configs": {"900": {}}, "c": 2.5}"#;
    let (top, _) = containers_file(text).unwrap();
    let (top, repeated) = as_object(top);
    assert!(repeated, "lxc_configs is written twice");
    let plain: Value = serde_json::from_str(text).unwrap();
    for (key, item) in top {
        match item {
            Top::Value(v) => assert_eq!(v, plain[key.as_ref()], "{key}"),
            Top::Guests(g) => assert_eq!((key.as_ref(), g.len()), ("lxc_configs", 1)),
        }
    }
    let (top, _) = containers_file(r#"{"lxc_configs": [1, 2]}"#).unwrap();
    assert!(matches!(&top[0].1, Top::Value(Value::Array(a)) if a.len() == 2));
    for bad in [
        "[1]",
        r#"{"a": 1,}"#,
        r#"{"a": 1} x"#,
        r#"{"lxc_configs": {"9": 1,}}"#,
    ] {
        assert!(containers_file(bad).is_none(), "{bad}");
    }
}
