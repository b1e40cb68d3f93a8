//! The field tables against the lists they are made from, and the entries a guest's
//! fields are read with.

use super::*;

/// The tables answer as a walk through the lists, in their order, does: for
/// every listed name and for names in none of them.
#[test]
fn the_tables_say_what_the_lists_say() {
    fn walk(lists: &[(&[&str], Class)], known: &[&str], field: &str) -> (Class, bool) {
        let class = lists
            .iter()
            .find(|(names, _)| names.contains(&field))
            .map_or(Class::App, |&(_, c)| c);
        (class, class != Class::App || known.contains(&field))
    }
    let listed = |classes: &[(&[&'static str], Class)], known: &[&'static str]| {
        let names = classes.iter().flat_map(|(names, _)| names.iter());
        names.chain(known).copied().collect::<Vec<&str>>()
    };
    let every = listed(CT_CLASSES, CT_APP_KNOWN)
        .into_iter()
        .chain(listed(VM_CLASSES, VM_APP_KNOWN))
        .chain([
            "",
            "unknown",
            "Template",
            "template ",
            "memory",
            "node_name",
        ]);
    for f in every {
        let (class, known) = walk(CT_CLASSES, CT_APP_KNOWN, f);
        assert_eq!((classify_ct(f), is_known_ct(f)), (class, known), "ct {f:?}");
        let (class, known) = walk(VM_CLASSES, VM_APP_KNOWN, f);
        assert_eq!((classify_vm(f), is_known_vm(f)), (class, known), "vm {f:?}");
    }
}

#[test]
fn no_field_is_in_two_classes() {
    let lists = [
        CT_DEFINE,
        CT_CONFIGURE,
        CT_FEATURE,
        CT_SNAPSHOT,
        CT_STRUCTURAL,
        CT_APP_KNOWN,
    ];
    let mut seen = std::collections::HashSet::new();
    for f in lists.iter().flat_map(|l| l.iter()) {
        assert!(seen.insert(*f), "{f} is classified twice");
    }
}

/// A field's entry says what the separate questions say: its class and the name
/// it enters the keys under (by the rule, and as `key_entry` says), whether it is
/// known, and the marks of that name, read once with the table, as
/// `secrets::marks` reads them each time.
#[test]
fn a_fields_entry_answers_as_each_question_does() {
    use serde_json::json;
    let mut names: Vec<&str> = known_names(GuestKind::Ct);
    names.extend(known_names(GuestKind::Vm));
    names.extend([
        "db_password",
        "HF_TOKEN",
        "smb_credentials",
        "api_key",
        "unknown",
        "",
        "clone_from_template_ctid",
    ]);
    for kind in [GuestKind::Ct, GuestKind::Vm] {
        for name in &names {
            for value in [json!("nesting=1,keyctl=1"), json!(["docker"]), json!(900)] {
                let entry = field_entry(kind, name, &value);
                // The rule, spelt out: a container's feature string is a setting,
                // its old clone field enters as the modern one, and any other
                // field is what the table says of its own name.
                let (class, entered) = match kind {
                    GuestKind::Ct if *name == "features" && value.is_string() => {
                        (Class::Configure, *name)
                    }
                    GuestKind::Ct if *name == "clone_from_template_ctid" => {
                        (Class::Define, "clone_from_ctid")
                    }
                    GuestKind::Ct => (classify_ct(name), *name),
                    GuestKind::Vm => (classify_vm(name), *name),
                };
                assert_eq!(key_entry(kind, name, &value), (class, entered));
                let known = match kind {
                    GuestKind::Ct => is_known_ct(name),
                    GuestKind::Vm => is_known_vm(name),
                };
                let want = FieldEntry {
                    class,
                    name: entered,
                    known,
                    marks: secrets::marks(entered, false),
                };
                assert_eq!(entry, want, "{kind:?} {name:?} = {value}");
            }
        }
    }
    let secret = field_entry(GuestKind::Ct, "db_password", &json!("x"));
    assert!(secret.marks.secret && !secret.known);
}

/// Each table is at most half full, so a name not in it is told so in a few
/// looks; and every name it holds is found again.
#[test]
fn the_tables_have_room() {
    for t in [&*CT_TABLE, &*VM_TABLE] {
        let held: Vec<&str> = t.places.iter().flatten().map(|(n, _)| *n).collect();
        assert!(held.len() * 2 <= PLACES, "{} names", held.len());
        for name in held {
            assert!(t.get(name).is_some(), "{name}");
        }
    }
}
