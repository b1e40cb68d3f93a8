//! What containers and VMs have in common: identity, name, unknown fields, clone
//! source, dependencies, scripts and health checks, the firewall; and the last
//! touches once the kind's own reader is done (the application fields, the raw
//! object).

use serde_json::Value;

use super::fields::{self, Class, FieldEntry};
use super::layout;
use super::model::{Guest, GuestKind, HealthCheck, KeyTexts};
use super::read::{self, At, Fields, Reader, join, quote};
use super::settings::{Direction, Firewall, FirewallRule, RuleAction};
use super::values;
use super::written::{FieldTexts, Written};
use super::{diag, eras, fwrule};
use crate::step::PRE_SNAPSHOT as PRE;

/// Read the fields every guest has. The kind's own reader comes next, then [`finish`].
pub(crate) fn read_common(
    r: &mut Reader,
    kind: GuestKind,
    id: u32,
    p: &str,
    raw: &Fields,
    entries: &[FieldEntry],
) -> Guest {
    if id < 100 {
        let field = if kind == GuestKind::Vm {
            join(p, "vmid")
        } else {
            p.to_string()
        };
        r.error(
            field,
            format!("guest ID {id} is below 100"),
            "Proxmox reserves IDs below 100: use 100 or more",
        );
    }
    let name = r.str(raw, p, "name");
    if name.is_none() && Reader::get(raw, "name").is_none() {
        r.error(p, "missing `name`", "add \"name\": \"<hostname>\"");
    }
    if let Some(n) = &name {
        values::check_hostname(r, At(p, "name"), n);
    }
    for (f, entry) in raw.keys().zip(entries) {
        if !entry.known {
            let candidates = fields::known_names(kind);
            let help = diag::did_you_mean(f, candidates).map_or_else(
                || {
                    "phoenix passes it to the application script; nothing else reads it \
                     (put it under `app_settings` if that is what it is for)"
                        .to_string()
                },
                |s| {
                    format!("did you mean `{s}`? as written it only reaches the application script")
                },
            );
            r.warn(join(p, f), format!("unknown field `{f}`"), help);
        }
    }
    // The guest's own application settings: any names inside, but one object.
    r.object(raw, p, fields::APP_SETTINGS);

    let clone_from = match kind {
        GuestKind::Ct => eras::clone_source(r, raw, p),
        GuestKind::Vm => r
            .id(raw, p, "clone_from_vmid")
            .map(|src| (src, join(p, "clone_from_vmid"))),
    };
    let dependencies = r.id_list(raw, p, "dependencies");
    // A container's 2025-08 feature string is a setting, read with `pct_options`.
    let feature_string =
        kind == GuestKind::Ct && Reader::get(raw, "features").is_some_and(eras::is_feature_string);
    let features = if feature_string {
        Vec::new()
    } else {
        r.str_list(raw, p, "features")
    };
    for (i, f) in features.iter().enumerate() {
        let at = || format!("{}[{i}]", join(p, "features"));
        if !layout::is_plain_file_name(f) || f.contains('.') {
            r.error(
                at(),
                format!("feature name `{}` is not a plain name", quote(f)),
                "use letters, digits, `_` and `-` only: the name selects features/<kind>/<name>.sh",
            );
        } else if f.len() + PRE.len() > values::SNAPSHOT_NAME_MAX {
            // The snapshot taken before the feature runs is `pre-<name>`.
            r.error(
                at(),
                format!(
                    "feature name `{f}` is {} characters long: its snapshot `{PRE}{f}` would pass the {} Proxmox takes",
                    f.len(),
                    values::SNAPSHOT_NAME_MAX
                ),
                format!(
                    "name the feature (and its script) in at most {} characters",
                    values::SNAPSHOT_NAME_MAX - PRE.len()
                ),
            );
        }
    }
    let application_script = r.str(raw, p, "application_script");
    if let Some(s) = &application_script
        && !layout::is_plain_file_name(s)
    {
        r.error(
            join(p, "application_script"),
            format!("`{}` is not a plain file name", quote(s)),
            "name a file inside apps/, without directories",
        );
    }
    let health_checks = read_health_checks(r, raw, p);

    let mut g = Guest::empty(kind, id, r.file, p);
    g.name = name.unwrap_or_default();
    g.clone_from = clone_from;
    g.dependencies = dependencies;
    g.features = features;
    g.application_script = application_script;
    g.health_checks = health_checks;
    g
}

/// Pick out the application fields, write each field's canonical text for the
/// keys, note a control character where commands would get it, and keep the
/// object as `written` (its text; `None`: written out from `raw`).
///
/// `entries` are the fields' [`FieldEntry`]s, as [`fields::entries`] gives them
/// (read once for this and [`read_common`]): by value as well as name, a
/// container's 2025-08 feature string is a setting, and an old field name enters
/// as the modern one. An application field is one either way.
pub(crate) fn finish(
    mut g: Guest,
    raw: &Fields,
    entries: &[FieldEntry],
    written: Option<Written>,
    texts: KeyTexts,
) -> Guest {
    let fields = || raw.iter().zip(entries.iter().map(|e| e.class));
    g.app_fields = fields()
        .filter(|(_, class)| *class == Class::App)
        .map(|((k, v), _)| (k.to_string(), v.clone()))
        .collect();
    if texts == KeyTexts::Now {
        g.key_fields = FieldTexts::of(raw, entries).into();
    }
    // Reported by `checks::check_control_characters`, which reads the object again.
    let may_hold = written
        .as_ref()
        .is_none_or(|w| values::may_hold_control_character(w.text()));
    g.control_characters = may_hold
        && fields().any(|((field, value), class)| {
            fields::reaches_commands_as(class, field) && values::has_control_character(value)
        });
    g.written = written.unwrap_or_else(|| Written::of(raw));
    g
}

fn read_health_checks(r: &mut Reader, raw: &Fields, p: &str) -> Vec<HealthCheck> {
    let mut out = Vec::new();
    let Some(items) = r.array(raw, p, "health_checks") else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{}[{i}]", join(p, "health_checks"));
        let Value::Object(o) = item else {
            r.error(
                ip,
                format!("expected an object, found {}", read::describe(item)),
                "write { \"name\": ..., \"script\": ..., \"args\": [...] }",
            );
            continue;
        };
        let Some(script) = r.str(o, &ip, "script") else {
            if Reader::get(o, "script").is_none() {
                r.error(ip, "missing `script`", "name a file inside health/");
            }
            continue;
        };
        if !layout::is_plain_file_name(&script) {
            r.error(
                join(&ip, "script"),
                format!("`{}` is not a plain file name", quote(&script)),
                "name a file inside health/, without directories",
            );
        }
        let args = match o.get("args") {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(Value::Array(_)) => r.str_list(o, &ip, "args"),
            None | Some(Value::Null) => Vec::new(),
            Some(other) => {
                r.error(
                    join(&ip, "args"),
                    format!(
                        "expected an array of strings, found {}",
                        read::describe(other)
                    ),
                    "write [\"arg1\", \"arg2\"]",
                );
                Vec::new()
            }
        };
        let name = r.str(o, &ip, "name").unwrap_or_else(|| script.clone());
        out.push(HealthCheck { name, script, args });
    }
    out
}

/// `firewall`: `enabled` and the rules, type and action checked. The other rule
/// fields are taken as text, numbers included (a port is often written as one).
pub(crate) fn read_firewall(r: &mut Reader, raw: &Fields, p: &str) -> Firewall {
    let mut out = Firewall::default();
    let Some(fw) = r.object(raw, p, "firewall") else {
        return out;
    };
    out.defined = true;
    let fp = join(p, "firewall");
    fwrule::check_firewall_fields(r, fw, &fp);
    out.enabled = r.bool(fw, &fp, "enabled").unwrap_or(false);
    for (key, policy) in [
        ("policy_in", &mut out.policy_in),
        ("policy_out", &mut out.policy_out),
    ] {
        *policy = match r.s(fw, &fp, key) {
            None => None,
            Some("ACCEPT") => Some(RuleAction::Accept),
            Some("DROP") => Some(RuleAction::Drop),
            Some("REJECT") => Some(RuleAction::Reject),
            Some(other) => {
                r.error(
                    join(&fp, key),
                    format!(
                        "policy `{}` is not ACCEPT, DROP or REJECT",
                        read::quote(other)
                    ),
                    "use one of ACCEPT, DROP, REJECT",
                );
                None
            }
        };
    }
    let Some(rules) = r.array(fw, &fp, "rules") else {
        return out;
    };
    for (i, rule) in rules.iter().enumerate() {
        let rp = format!("{}[{i}]", join(&fp, "rules"));
        let Value::Object(o) = rule else {
            r.error(
                rp,
                format!("expected an object, found {}", read::describe(rule)),
                "write { \"type\": \"in\", \"action\": \"ACCEPT\", ... }",
            );
            continue;
        };
        let direction = match r.s(o, &rp, "type") {
            None | Some("in") => Direction::In,
            Some("out") => Direction::Out,
            Some(t) => {
                r.error(
                    join(&rp, "type"),
                    format!("rule type `{t}` is neither `in` nor `out`"),
                    "use \"in\" or \"out\"",
                );
                Direction::In
            }
        };
        let action = match r.s(o, &rp, "action") {
            None | Some("ACCEPT") => RuleAction::Accept,
            Some("DROP") => RuleAction::Drop,
            Some("REJECT") => RuleAction::Reject,
            Some(a) => {
                r.error(
                    join(&rp, "action"),
                    format!("rule action `{a}` is not ACCEPT, DROP or REJECT"),
                    "use one of ACCEPT, DROP, REJECT",
                );
                RuleAction::Accept
            }
        };
        let text = |k: &str| Reader::get(o, k).and_then(scalar_text);
        let (proto, port) = (text("proto"), text("port"));
        fwrule::check_rule(r, o, &rp, proto.as_deref(), port.as_deref());
        out.rules.push(FirewallRule {
            direction,
            action,
            proto,
            source: text("source"),
            dest: text("dest"),
            port,
            comment: text("comment"),
        });
    }
    out
}

/// A scalar as the text a command line gets: strings as they are, numbers in
/// decimal, booleans as `1` and `0`.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.into()),
        _ => None,
    }
}
