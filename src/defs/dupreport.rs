//! The diagnostics for keys written twice (found by `dupkeys`): a warning where jq's
//! reading (the last one wins) is what was meant or does not change a guest, an error
//! showing both values where a guest would silently lose one. Values are shown as
//! compact JSON, secrets replaced, cut at 80 characters.

use serde_json::Value;

use super::diag::{Diagnostic, Diagnostics};
use super::dupkeys::{Duplicate, Place, Seg, render};
use super::secrets::{is_credentials, marks};

/// The diagnostics for the duplicates of one file, `rel`. `guests` is the top-level
/// key that holds the file's guests (`lxc_configs`, `vms`), if it has one.
pub(crate) fn report(
    rel: &str,
    text: &[u8],
    guests: Option<&str>,
    dups: &[Duplicate],
    diags: &mut Diagnostics,
) {
    for d in dups {
        let path = render(&d.path);
        let key = match d.path.last() {
            Some(Seg::Key(k)) => k.as_str(),
            _ => "",
        };
        let value = |p: &Place| -> Value {
            text.get(p.value.clone())
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null)
        };
        let (a, b) = (value(&d.earlier), value(&d.last));
        let places = format!(
            "{}:{} and {}:{}",
            d.earlier.line, d.earlier.column, d.last.line, d.last.column
        );
        let shown_key = super::read::quote(key);
        if a == b {
            diags.push(
                Diagnostic::warning(
                    rel,
                    path,
                    format!(
                        "key `{shown_key}` is written twice with the same value, at {places}; the last one is used, as jq does"
                    ),
                )
                .help("remove one of them"),
            );
            continue;
        }
        let in_credentials = d
            .path
            .iter()
            .any(|s| matches!(s, Seg::Key(k) if is_credentials(k)));
        let show = |v: &Value| shown(key, v, in_credentials);
        let message = format!(
            "key `{shown_key}` is written twice with different values: `{}` at {}:{}, `{}` at {}:{}",
            show(&a),
            d.earlier.line,
            d.earlier.column,
            show(&b),
            d.last.line,
            d.last.column
        );
        let differ = match (&a, &b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x
                    .keys()
                    .chain(y.keys())
                    .filter(|k| x.get(*k) != y.get(*k))
                    .collect();
                keys.sort();
                keys.dedup();
                let list: Vec<String> = keys
                    .iter()
                    .map(|k| format!("`{}`", super::read::quote(k)))
                    .collect();
                format!(" (they differ in {})", list.join(", "))
            }
            _ => String::new(),
        };
        let in_guest = guests.is_some_and(|g| d.path.first() == Some(&Seg::Key(g.to_string())));
        if in_guest {
            diags.push(Diagnostic::error(rel, path, message).help(format!(
                "jq, and so the shell tool, used the last one and dropped the first{differ}: remove the one you do not mean, or give a copied guest its own ID"
            )));
        } else {
            diags.push(Diagnostic::warning(rel, path, message).help(format!(
                "the last one ({}:{}) is used, as jq does{differ}; remove the other",
                d.last.line, d.last.column
            )));
        }
    }
}

/// A value in a message: compact JSON with secrets replaced, control characters
/// escaped, cut at 80 characters.
fn shown(key: &str, v: &Value, in_credentials: bool) -> String {
    const MAX: usize = 80;
    let safe = redact(key, v, in_credentials).to_string();
    let mut out = String::new();
    for (n, c) in safe.chars().enumerate() {
        if n == MAX {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// `v`, the value of `key`, with every secret (see [`marks`]) replaced.
fn redact(key: &str, v: &Value, in_credentials: bool) -> Value {
    let scalar = !matches!(v, Value::Object(_) | Value::Array(_));
    let marks = marks(key, in_credentials);
    if marks.hides(scalar) {
        return Value::String("<secret>".into());
    }
    let inside = in_credentials || marks.credentials;
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), redact(k, x, inside)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|x| redact(key, x, in_credentials))
                .collect(),
        ),
        other => other.clone(),
    }
}
