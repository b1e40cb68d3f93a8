//! Tests of `defs::skim`.

use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::defs::parse::as_object;

fn guests(top: TopEntries<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, item) in top {
        if let Top::Guests(e) = item {
            assert_eq!(key, "lxc_configs");
            out.extend(e.into_iter().map(|(k, v)| (k.into_owned(), v.to_string())));
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
    assert_eq!(obj[1].1, r#"{"name":"b"}"#);
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

/// A container file around `guests`, with other entries before and after.
fn file_of(before: &Value, guests: &[(String, Value)], after: &Value, pretty: bool) -> String {
    let configs: serde_json::Map<String, Value> = guests.iter().cloned().collect();
    let file = serde_json::json!({ "before": before, "lxc_configs": configs, "after": after });
    if pretty {
        serde_json::to_string_pretty(&file).unwrap()
    } else {
        serde_json::to_string(&file).unwrap()
    }
}

/// Any JSON value, strings with what a skim must pass over inside them.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        "[a-z{}\\[\\]\",:\\\\ é\u{1}\n]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(("[a-z\"{}\\\\]{0,4}", inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Of a file `serde_json` parses, every guest's text is cut out whole and
    /// every other value parsed as `serde_json` parses it, written compact or
    /// pretty.
    #[test]
    fn every_cut_is_the_guest_serde_json_reads(
        before in any_value(),
        guests in prop::collection::vec(("[0-9]{1,4}", any_value()), 0..6),
        after in any_value(),
        pretty in any::<bool>(),
    ) {
        let text = file_of(&before, &guests, &after, pretty);
        let plain: Value = serde_json::from_str(&text).unwrap();
        let mut handed = Vec::new();
        let (top, repeated) = containers_file_with(&text, &mut |i, (k, v)| {
            handed.push((i, k.to_string(), v.to_string()));
        })
        .expect("a JSON file is skimmed");
        prop_assert!(!repeated);
        prop_assert_eq!(top.len(), 3);
        for (key, item) in top {
            match item {
                Top::Value(v) => prop_assert_eq!(&v, &plain[key.as_ref()]),
                Top::Guests(cut) => {
                    prop_assert_eq!(key.as_ref(), "lxc_configs");
                    let want = plain["lxc_configs"].as_object().unwrap();
                    prop_assert_eq!(cut.len(), want.len());
                    for (i, (k, text)) in cut.iter().enumerate() {
                        let v: Value = serde_json::from_str(text).unwrap();
                        prop_assert_eq!(&v, &want[k.as_ref()]);
                        // The text as written: no white space around it.
                        prop_assert_eq!(text.trim(), *text);
                        prop_assert_eq!(&handed[i], &(i, k.to_string(), text.to_string()));
                    }
                }
            }
        }
    }

    /// What is not JSON is never taken: a file is skimmed and its guests' texts
    /// all parse only where `serde_json` parses the whole file.
    #[test]
    fn what_is_not_json_is_never_taken(
        tokens in prop::collection::vec(prop_oneof![
            Just("{"), Just("}"), Just("["), Just("]"), Just(":"), Just(","), Just(" "),
            Just("\n"), Just("\"a\""), Just("\"lxc_configs\""), Just("\"9\""), Just("\"{\""),
            Just("\"\\\"\""), Just("\"\\\\\""), Just("\""), Just("\\"), Just("1"), Just("-"),
            Just("tru"), Just("true"), Just("null"), Just("\u{1}"), Just("\"\u{1}\""),
        ], 0..40),
        prefix in prop_oneof![Just(""), Just("{\"lxc_configs\": {"), Just("{\"lxc_configs\": {\"9\": ")],
    ) {
        let text = format!("{prefix}{}", tokens.concat());
        if taken(&text) {
            prop_assert!(serde_json::from_str::<Value>(&text).is_ok(), "{}", text);
        }
    }
}

/// Whether the skim takes `text` with every guest's text parsing: what sends the
/// file down the fast path.
fn taken(text: &str) -> bool {
    containers_file(text).is_some_and(|(top, _)| {
        top.iter().all(|(_, item)| match item {
            Top::Guests(cut) => cut
                .iter()
                .all(|(_, t)| crate::defs::parse::guest(t).is_some()),
            Top::Value(_) => true,
        })
    })
}

proptest! {
    /// A JSON file with one byte changed, put in or taken out, as an editor's
    /// slip makes it: taken only where `serde_json` still parses it.
    #[test]
    fn a_file_one_byte_from_json_is_taken_only_if_it_is_json(
        guests in prop::collection::vec(("[0-9]{1,3}", any_value()), 1..4),
        after in any_value(),
        pretty in any::<bool>(),
        at in any::<prop::sample::Index>(),
        byte in prop::sample::select(b"{}[]:,\\\" x1\n\t".to_vec()),
        how in 0..3u8,
    ) {
        let mut text = file_of(&Value::Null, &guests, &after, pretty).into_bytes();
        let i = at.index(text.len());
        match how {
            0 => text[i] = byte,
            1 => text.insert(i, byte),
            _ => { text.remove(i); }
        }
        let Ok(text) = String::from_utf8(text) else {
            return Ok(());
        };
        prop_assert_eq!(taken(&text), serde_json::from_str::<Value>(&text).is_ok(), "{}", text);
    }
}

/// Nesting deeper than `MAX_DEPTH` is left to the plain parse, which applies
/// `serde_json`'s limit to the file as a whole: a guest parsed on its own would
/// have that limit to itself, and take what the whole file's parse refuses.
#[test]
fn deep_nesting_goes_to_the_plain_parse() {
    let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let at = |n: usize| format!(r#"{{"lxc_configs": {{"900": {{"x": {}}}}}}}"#, nested(n));
    // The guest's object is three deep, its field's arrays start at four.
    let deepest = MAX_DEPTH - 3;
    assert!(containers_file(&at(deepest)).is_some());
    assert!(containers_file(&at(deepest + 1)).is_none());
    let top = |n: usize| format!(r#"{{"a": {}}}"#, nested(n));
    assert!(containers_file(&top(MAX_DEPTH - 1)).is_some());
    assert!(containers_file(&top(MAX_DEPTH)).is_none());
    // The limit this stands for: the file with 127 levels in a guest, which a
    // guest's own parse takes, is one `serde_json` refuses.
    let text = at(125);
    assert!(serde_json::from_str::<Value>(&text).is_err());
    let guest = format!(r#"{{"x": {}}}"#, nested(125));
    assert!(serde_json::from_str::<Value>(&guest).is_ok());
}

/// What cutting must pass over: braces and quotes in strings, escapes in keys,
/// white space anywhere JSON allows it, a guest that is no object.
#[test]
fn strings_and_white_space_do_not_move_a_cut() {
    let text = "\r\n\t{ \"lxc_configs\" :\n{\"9\\u0030\" : { \"a\": \"}\\\"{\", \"b\" : [ \"]\" ] } ,\n \"901\":-1.5e3 , \"902\" : \"x\\\\\" } }\n";
    let (top, _) = containers_file(text).unwrap();
    let cut = guests(top);
    assert_eq!(
        cut,
        [
            (
                "90".to_string(),
                r#"{ "a": "}\"{", "b" : [ "]" ] }"#.to_string()
            ),
            ("901".to_string(), "-1.5e3".to_string()),
            ("902".to_string(), r#""x\\""#.to_string()),
        ]
    );
    for bad in [
        "{\"lxc_configs\": {\"9\": 1} ",
        "{\"lxc_configs\": {\"9\u{1}\": 1}}",
        "{\"lxc_configs\": {\"9\" 1}}",
        "{\"lxc_configs\": {\"9\": 1 \"10\": 2}}",
        "{\"lxc_configs\": {\"9\": 1 x\"10\": 2}}",
        "{\"a\": 1;\"b\": 2}",
        "{\"lxc_configs\": {\"9\": \"open}}",
        "{, \"a\": 1}",
        "",
    ] {
        assert!(containers_file(bad).is_none(), "{bad:?}");
    }
}
