//! What a field's name says of its value: whether it is a secret, never to be
//! shown (`*password*`, `*token*`, `api_key`...), and whether it holds credentials,
//! under which anything named `*key*` is one. Canonical key texts (`canon`), the
//! duplicate-key report, health-check commands, API request logs and the live view
//! all hide what these say is secret.

/// Whether a field's value must never be printed: `*password*`, `*passwd*`,
/// `*token*`, `*secret*`, and keys that are nothing but secrets (`api_key`,
/// `apikey`, `access_key`, `private_key`).
pub fn is_secret(field: &str) -> bool {
    marks(field, false).secret
}

/// [`is_secret`], or `*key*` inside credentials ([`is_credentials`]), where a key
/// is one (`credentials.registry_key`).
pub fn is_secret_in(field: &str, in_credentials: bool) -> bool {
    marks(field, in_credentials).secret
}

/// Whether a field holds credentials (`credentials`, `registry_credential`):
/// everything under it named `*key*` is a secret.
pub fn is_credentials(field: &str) -> bool {
    marks(field, false).credentials
}

/// What a field's name says of its value, from one reading of the name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    /// [`is_secret_in`]: the value is never shown.
    pub secret: bool,
    /// [`is_credentials`].
    pub credentials: bool,
}

impl Marks {
    /// Whether a value under this name is never shown: a secret's, or a scalar
    /// that is credentials itself (`"smb_credentials": "user:pass"`).
    pub fn hides(self, scalar: bool) -> bool {
        self.secret || (scalar && self.credentials)
    }
}

/// The [`Marks`] of `field`, found under credentials or not. Every field name of
/// every guest is asked this while its key texts are written: the name is folded
/// once (`folded`) and read once, each place tried only against the words that
/// begin with its letter.
pub fn marks(field: &str, in_credentials: bool) -> Marks {
    folded(field, |name| {
        let mut m = Marks::default();
        for at in 0..name.len() {
            let rest = &name[at..];
            let is = |word: &[u8]| rest.starts_with(word);
            match rest[0] {
                b'p' => m.secret |= is(b"password") || is(b"passwd") || is(b"private_key"),
                b't' => m.secret |= is(b"token"),
                b's' => m.secret |= is(b"secret"),
                b'a' => m.secret |= is(b"api_key") || is(b"apikey") || is(b"access_key"),
                b'k' => m.secret |= in_credentials && is(b"key"),
                b'c' => m.credentials |= is(b"credential"),
                _ => {}
            }
        }
        m
    })
}

/// The words that make a name a secret's, as [`folded`] folds them: what
/// [`marks`] looks for, spelt as a list for its test.
#[cfg(test)]
const SECRETS: [&str; 8] = [
    "password",
    "passwd",
    "token",
    "secret",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
];

/// Whether `needle` (lower case, `_` for `-`) is in `field`, ignoring case and
/// taking `-` for `_` (`--api-key`).
#[cfg(test)]
fn contains_ignore_case(field: &str, needle: &str) -> bool {
    folded(field, |name| has(name, needle))
}

#[cfg(test)]
fn has(name: &[u8], needle: &str) -> bool {
    name.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// `f` of the field's name in lower case with `_` for `-`. Every field name of
/// every guest is asked about secrets, for several needles at once: the name is
/// folded once, on the stack when it is short.
fn folded<R>(field: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    let fold = |c: &u8| {
        if *c == b'-' {
            b'_'
        } else {
            c.to_ascii_lowercase()
        }
    };
    let bytes = field.as_bytes();
    let mut buf = [0u8; 64];
    if let Some(short) = buf.get_mut(..bytes.len()) {
        for (to, from) in short.iter_mut().zip(bytes) {
            *to = fold(from);
        }
        return f(short);
    }
    f(&bytes.iter().map(fold).collect::<Vec<u8>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_recognised_by_name() {
        assert!(is_secret("admin_password"));
        assert!(is_secret("HF_TOKEN"));
        assert!(is_secret("client_secret"));
        assert!(!is_secret("memory_mb"));
        assert!(is_secret("root_passwd"));
        assert!(is_secret("PORTAINER_API_KEY"));
        assert!(!is_secret("ssh_public_key"));
        assert!(is_secret_in("registry_key", true));
        assert!(!is_secret_in("registry_key", false));
        assert!(is_credentials("smb_credentials"));
    }

    /// `marks` reads a name once; it finds what searching for every word in
    /// turn finds, on names made of the words, their pieces and other letters.
    #[test]
    fn marks_find_what_a_search_for_each_word_finds() {
        let pieces = [
            "",
            "pass",
            "word",
            "passwd",
            "_",
            "-",
            "API",
            "key",
            "Key",
            "token",
            "tok",
            "secret",
            "sec",
            "access",
            "private",
            "credential",
            "Cred",
            "x",
            "db_",
            "apikey",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let name = format!("{a}{b}{c}");
                    for in_credentials in [false, true] {
                        let secret = SECRETS.iter().any(|n| contains_ignore_case(&name, n))
                            || (in_credentials && contains_ignore_case(&name, "key"));
                        let credentials = contains_ignore_case(&name, "credential");
                        assert_eq!(
                            marks(&name, in_credentials),
                            Marks {
                                secret,
                                credentials
                            },
                            "{name} {in_credentials}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn names_are_matched_ignoring_case_and_dashes_at_any_length() {
        let long = format!("{}_Api-Key", "x".repeat(80));
        for (field, needle, want) in [
            ("DB_PASSWORD", "password", true),
            ("--api-key", "api_key", true),
            ("apikey", "api_key", false),
            ("", "token", false),
            ("tok", "token", false),
            (long.as_str(), "api_key", true),
            (&long[..82], "api_key", false),
        ] {
            assert_eq!(
                contains_ignore_case(field, needle),
                want,
                "{field} {needle}"
            );
        }
    }
}
