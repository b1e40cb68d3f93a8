//! Canonical JSON text for key inputs: object keys sorted, no whitespace, secrets
//! replaced by a fingerprint. Two files that differ only in formatting or key order
//! give the same text, so the same key.
//!
//! What is a secret: the value of a field whose name says so
//! ([`is_secret`](crate::defs::secrets::is_secret)), anything named `*key*` under
//! credentials ([`is_credentials`](crate::defs::secrets::is_credentials)), and in any string the value of each
//! `NAME=value` word whose name is one of those (`DB_PASSWORD=...` in an
//! environment list).

use serde_json::Value;

use super::secrets::{self, is_secret_in};

/// Canonical text of `value` found under the field `field`.
pub fn canonical(field: &str, value: &Value) -> String {
    let mut out = String::new();
    write_canonical(&mut out, field, value);
    out
}

/// [`canonical`], appended to `out`.
pub fn write_canonical(out: &mut String, field: &str, value: &Value) {
    write_field(out, field, value, false);
}

/// What stands in for a secret: it changes when the secret changes, and says nothing
/// else about it.
pub fn redacted(value: &Value) -> String {
    format!(
        "\"{}\"",
        fingerprint(&{
            let mut raw = String::new();
            write(&mut raw, value, false);
            raw
        })
    )
}

/// `<redacted 0123456789ab>`: the first 12 hex digits of a keyed blake3 of `raw`.
fn fingerprint(raw: &str) -> String {
    let digest = blake3::derive_key("phoenix redacted value 2026-11 v1", raw.as_bytes());
    let hex = blake3::Hash::from_bytes(digest).to_hex();
    format!("<redacted {}>", &hex[..12])
}

/// [`write_canonical`] of a value whose field name's [`secrets::marks`] are known
/// already (a guest's fields: `fields::field_entry` reads them with the field).
pub(crate) fn write_canonical_marked(out: &mut String, marks: secrets::Marks, value: &Value) {
    write_marked(out, marks, value, false);
}

/// `value`, the value of `field`, inside credentials or not.
fn write_field(out: &mut String, field: &str, value: &Value, in_credentials: bool) {
    write_marked(
        out,
        secrets::marks(field, in_credentials),
        value,
        in_credentials,
    );
}

/// [`write_field`] of a field whose name has `marks`.
fn write_marked(out: &mut String, marks: secrets::Marks, value: &Value, in_credentials: bool) {
    let credentials = in_credentials || marks.credentials;
    let scalar = !matches!(value, Value::Object(_) | Value::Array(_));
    if marks.hides(scalar) {
        out.push_str(&redacted(value));
    } else {
        write(out, value, credentials);
    }
}

fn write(out: &mut String, value: &Value, in_credentials: bool) {
    match value {
        Value::Object(map) => {
            // `serde_json::Map` is a `BTreeMap` (no `preserve_order`): its keys come
            // sorted already (`object_keys_come_sorted` holds that).
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_field(out, k, v, in_credentials);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, v, in_credentials);
            }
            out.push(']');
        }
        Value::String(s) => match assignments_redacted(s, in_credentials) {
            Some(safe) => write_str(out, &safe),
            None => write_str(out, s),
        },
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
        // Most numbers are sizes and counts: written digit by digit, as
        // `serde_json` writes them, without the formatting machinery.
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                push_u64(out, u);
            } else {
                use std::fmt::Write as _;
                let _ = write!(out, "{n}");
            }
        }
    }
}

/// `n` in decimal, appended to `out`.
fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // `n % 10` is below 10: the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (n % 10) as u8;
        digits[at] = b'0' + digit;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// `s` with the value of every `NAME=value` word whose name is a secret replaced
/// by its fingerprint (`DB_PASSWORD=<redacted ...>`, `--api-key=<redacted ...>`);
/// `None` when it has none.
fn assignments_redacted(s: &str, in_credentials: bool) -> Option<String> {
    if !s.contains('=') {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut changed = false;
    let mut rest = s;
    while !rest.is_empty() {
        let word_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_len);
        match word.split_once('=') {
            Some((name, value))
                if is_assignment_name(name) && is_secret_in(name, in_credentials) =>
            {
                out.push_str(name);
                out.push('=');
                out.push_str(&fingerprint(value));
                changed = true;
            }
            _ => out.push_str(word),
        }
        let space_len = after
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(after.len());
        out.push_str(&after[..space_len]);
        rest = &after[space_len..];
    }
    changed.then_some(out)
}

/// An environment variable or option name: `DB_PASSWORD`, `--api-key`, `db.password`.
fn is_assignment_name(name: &str) -> bool {
    let name = name.trim_start_matches('-');
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn write_str(out: &mut String, s: &str) {
    crate::json_text::push_str(out, &[s]);
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
    fn scalars_are_written_as_serde_json_writes_them() {
        for text in [
            "0",
            "7",
            "10",
            "2048",
            "18446744073709551615",
            "-1",
            "-9223372036854775808",
            "1.5",
            "1e300",
            "-0.0",
            "true",
            "false",
            "null",
            "\"s\"",
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            let mut out = String::new();
            write(&mut out, &value, false);
            assert_eq!(out, serde_json::to_string(&value).unwrap(), "{text}");
        }
    }

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

    /// GitHub issue 15: `passwd`, keys inside credentials, and secret assignments
    /// inside strings were printed (and stored in manifests) as they are.
    #[test]
    fn passwd_credential_keys_and_secret_assignments_never_appear() {
        let v = json!({
            "root_passwd": "s3cr3t-a",
            "credentials": {"registry_key": "s3cr3t-b", "user": "deploy", "nested": {"ssh_key": "s3cr3t-c"}},
            "smb_credentials": "s3cr3t-d",
            "environment": ["DB_PASSWORD=s3cr3t-e", "DB_HOST=db.local"],
            "command": "run --api-key=s3cr3t-f  -e GITHUB_TOKEN=s3cr3t-g --verbose",
            "ssh_public_key": "ssh-ed25519 AAAA",
        });
        let text = canonical("app", &v);
        for secret in [
            "s3cr3t-a", "s3cr3t-b", "s3cr3t-c", "s3cr3t-d", "s3cr3t-e", "s3cr3t-f", "s3cr3t-g",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        for kept in [
            "deploy",
            "DB_HOST=db.local",
            "DB_PASSWORD=<redacted ",
            "run --api-key=<redacted ",
            "  -e GITHUB_TOKEN=<redacted ",
            " --verbose",
            "ssh-ed25519 AAAA",
        ] {
            assert!(text.contains(kept), "{kept} missing in {text}");
        }
        // The fingerprint still follows the secret.
        let other = canonical("env", &json!(["DB_PASSWORD=s3cr3t-x"]));
        assert_ne!(other, canonical("env", &json!(["DB_PASSWORD=s3cr3t-e"])));
        // Words that only look alike are left as they are.
        assert_eq!(canonical("x", &json!("a=b token")), "\"a=b token\"");
        assert_eq!(canonical("x", &json!("1+1=2")), "\"1+1=2\"");
    }

    /// A string's canonical text is the bytes `serde_json` writes of it: each
    /// character that needs an escape, and some that do not, at every place of a
    /// sixteen-byte block, alone and among others.
    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut chars: Vec<char> = (0u8..0x80).map(char::from).collect();
        chars.extend(['é', '\u{7f}', '\u{85}', '\u{2028}', '€']);
        for c in chars {
            for at in [0, 1, 15, 16, 17, 31, 40] {
                let mut text: String = "a".repeat(at);
                text.push(c);
                text.push_str("tail");
                for s in [text.clone(), c.to_string(), format!("{text}{c}{c}")] {
                    let ours = canonical("x", &Value::String(s.clone()));
                    assert_eq!(ours, serde_json::to_string(&s).unwrap(), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn object_keys_come_sorted() {
        // `write` relies on it; `preserve_order` on serde_json would break it.
        let v: Value = serde_json::from_str(r#"{"b":1,"a":{"z":1,"y":2},"B":0,"aa":[]}"#).unwrap();
        assert_eq!(
            canonical("x", &v),
            r#"{"B":0,"a":{"y":2,"z":1},"aa":[],"b":1}"#
        );
    }

    #[test]
    fn display_strips_quotes_and_cuts() {
        assert_eq!(display("\"abc\""), "abc");
        assert_eq!(display("2048"), "2048");
        assert!(display(&format!("\"{}\"", "x".repeat(200))).ends_with("..."));
    }
}
