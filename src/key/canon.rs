//! Canonical JSON text for key inputs: object keys sorted, no whitespace, secrets
//! replaced by a fingerprint. Two files that differ only in formatting or key order
//! give the same text, so the same key.

use serde_json::Value;

use crate::defs::fields::is_secret;

/// Canonical text of `value` found under the field `field`.
pub fn canonical(field: &str, value: &Value) -> String {
    let mut out = String::new();
    if is_secret(field) {
        out.push_str(&redacted(value));
    } else {
        write(&mut out, value);
    }
    out
}

/// What stands in for a secret: it changes when the secret changes, and says nothing
/// else about it.
pub fn redacted(value: &Value) -> String {
    let mut raw = String::new();
    write(&mut raw, value);
    let digest = blake3::derive_key("phoenix redacted value 2026-11 v1", raw.as_bytes());
    let hex = blake3::Hash::from_bytes(digest).to_hex();
    let hex = &hex[..12];
    format!("\"<redacted {hex}>\"")
}

fn write(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                let v = &map[k];
                if is_secret(k) {
                    out.push_str(&redacted(v));
                } else {
                    write(out, v);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, v);
            }
            out.push(']');
        }
        Value::String(s) => write_str(out, s),
        other => {
            use std::fmt::Write as _;
            let _ = write!(out, "{other}");
        }
    }
}

fn write_str(out: &mut String, s: &str) {
    // Same bytes as serde_json's string serialiser, without the two temporary Strings.
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            use std::fmt::Write as _;
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// How a canonical value is shown to people: strings without quotes, long values cut.
pub fn display(canonical: &str) -> String {
    let text = match serde_json::from_str::<Value>(canonical) {
        Ok(Value::String(s)) => s,
        _ => canonical.to_string(),
    };
    if text.chars().count() > 72 {
        let cut: String = text.chars().take(69).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "s"}}"#).unwrap();
        let b: Value = serde_json::from_str("{\"a\":{\"x\":\"s\",\"y\":[1,2]},\n\"b\":1}").unwrap();
        assert_eq!(canonical("f", &a), canonical("f", &b));
    }

    #[test]
    fn secrets_never_appear() {
        let v = json!({"user": "admin", "admin_password": "hunter2", "nested": {"api_token": "abc123"}});
        let text = canonical("portainer_api", &v);
        assert!(
            !text.contains("hunter2") && !text.contains("abc123"),
            "{text}"
        );
        assert!(text.contains("admin"));
        assert_ne!(
            canonical("password", &json!("a")),
            canonical("password", &json!("b"))
        );
        assert!(!canonical("db_password", &json!("hunter2")).contains("hunter2"));
    }

    #[test]
    fn display_strips_quotes_and_cuts() {
        assert_eq!(display("\"abc\""), "abc");
        assert_eq!(display("2048"), "2048");
        assert!(display(&format!("\"{}\"", "x".repeat(200))).ends_with("..."));
    }
}
