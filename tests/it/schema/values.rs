//! Checking option values against their API definitions: options present in the
//! endpoint's parameters, types, ranges, enums, property strings and the named
//! string formats. `Schema::check` finds the endpoint; this checks what is passed.

use serde_json::{Map, Value};

pub(super) fn check_options(
    params: &Map<String, Value>,
    rest: &[&str],
    positional: &[&str],
) -> Vec<String> {
    let mut errs = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let Some(name) = rest[i].strip_prefix("--") else {
            errs.push(format!("unexpected argument `{}`", rest[i]));
            i += 1;
            continue;
        };
        let Some(value) = rest.get(i + 1) else {
            errs.push(format!("--{name} has no value"));
            break;
        };
        i += 2;
        let key = if params.contains_key(name) {
            name.to_string()
        } else {
            let base = name.trim_end_matches(|c: char| c.is_ascii_digit());
            format!("{base}[n]")
        };
        if positional.contains(&name) {
            errs.push(format!("--{name} is given twice"));
        }
        match params.get(&key) {
            Some(def) => errs.extend(check_value(name, value, def)),
            None => errs.push(format!("--{name} is not an option of this command")),
        }
    }
    errs
}

/// Check one value against its definition; property strings recursively.
pub(super) fn check_value(name: &str, value: &str, def: &Value) -> Vec<String> {
    if let Some(Value::Object(format)) = def.get("format") {
        return check_property_string(name, value, format);
    }
    let mut errs = Vec::new();
    let ty = def.get("type").and_then(Value::as_str).unwrap_or("string");
    match ty {
        "integer" => match value.parse::<i64>() {
            Ok(n) => {
                if let Some(min) = def.get("minimum").and_then(Value::as_i64)
                    && n < min
                {
                    errs.push(format!("{name}={value} is below the minimum {min}"));
                }
                if let Some(max) = def.get("maximum").and_then(Value::as_i64)
                    && n > max
                {
                    errs.push(format!("{name}={value} is above the maximum {max}"));
                }
            }
            Err(_) => errs.push(format!("{name}={value} is not an integer")),
        },
        "number" => {
            if value.parse::<f64>().is_err() {
                errs.push(format!("{name}={value} is not a number"));
            }
        }
        "boolean" => {
            if !matches!(value, "0" | "1") {
                errs.push(format!("{name}={value} is not a boolean (0 or 1)"));
            }
        }
        _ => {
            if let Some(values) = def.get("enum").and_then(Value::as_array)
                && !values.iter().any(|v| v.as_str() == Some(value))
            {
                let allowed: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                errs.push(format!(
                    "{name}={value} is not one of {}",
                    allowed.join(", ")
                ));
            }
            if let Some(max) = def.get("maxLength").and_then(Value::as_u64)
                && value.len() as u64 > max
            {
                errs.push(format!("{name} is longer than {max} characters"));
            }
            if let Some(fmt) = def.get("format").and_then(Value::as_str)
                && let Some(e) = check_named_format(fmt, value)
            {
                errs.push(format!("{name}={value}: {e}"));
            }
        }
    }
    errs
}

fn check_property_string(name: &str, value: &str, format: &Map<String, Value>) -> Vec<String> {
    let mut errs = Vec::new();
    let default_key = format
        .iter()
        .find(|(_, d)| d.get("default_key").and_then(Value::as_u64) == Some(1))
        .map(|(k, _)| k.clone());
    let mut seen = Vec::new();
    for (i, part) in value.split(',').enumerate() {
        let (k, v) = match part.split_once('=') {
            Some((k, v)) => (k.to_string(), v),
            None if i == 0 && default_key.is_some() => {
                (default_key.clone().unwrap_or_default(), part)
            }
            None => {
                errs.push(format!("{name}: `{part}` has no key"));
                continue;
            }
        };
        match format.get(&k).or_else(|| {
            format
                .values()
                .find(|d| d.get("alias").and_then(Value::as_str) == Some(&k))
        }) {
            Some(def) => errs.extend(check_value(&format!("{name}.{k}"), v, def)),
            None => errs.push(format!(
                "{name}: `{k}` is not a key of this property string"
            )),
        }
        seen.push(k);
    }
    for (k, def) in format {
        let optional = def.get("optional").and_then(Value::as_u64) == Some(1)
            || def.get("default_key").is_some()
            || def.get("alias").is_some();
        if !optional && !seen.contains(k) {
            errs.push(format!("{name}: required key `{k}` is missing"));
        }
    }
    errs
}

fn check_named_format(format: &str, value: &str) -> Option<String> {
    match format {
        "pve-tag-list" => value
            .split([';', ',', ' '])
            .filter(|t| !t.is_empty())
            .find(|t| {
                let mut c = t.chars();
                !(c.next()
                    .is_some_and(|f| f.is_ascii_alphanumeric() || f == '_')
                    && c.all(|x| x.is_ascii_alphanumeric() || "_-+.".contains(x)))
            })
            .map(|t| format!("`{t}` is not a valid tag")),
        "mac-addr" => {
            let ok = value.split(':').count() == 6
                && value
                    .split(':')
                    .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
            (!ok).then(|| "not a MAC address".to_string())
        }
        "ipv4" => value
            .parse::<std::net::Ipv4Addr>()
            .is_err()
            .then(|| "not an IPv4 address".to_string()),
        "pve-startup-order" => {
            let ok = value.split(',').all(|p| match p.split_once('=') {
                Some(("order" | "up" | "down", n)) => n.parse::<u64>().is_ok(),
                None => p.parse::<u64>().is_ok(),
                _ => false,
            });
            (!ok).then(|| "not a startup order ([order=]N[,up=N][,down=N])".to_string())
        }
        _ => None,
    }
}
