//! A step's key as a record holds it: [`RecordedKey`].
//!
//! Why not a `String`. A no-op plan reads every node's record and compares each
//! recorded step key with the key it computes. As strings, the 64 digits of each
//! key were an allocation of their own: at 10,000 guests, 50,000 of them and 3 MB
//! of fresh pages for the records' read, and every comparison went through a
//! pointer to memory the plan had not touched since. Held as the 32 bytes the
//! digits write, a key is read without an allocation, sits in its step's record
//! and is compared as two arrays.
//!
//! Measured (paired no-op plans against the `String` keys): at 10,004 guests the
//! keys stage -0.8 ms (interquartile range -1.7 to 0.0, 81 pairs), the plan -2.4
//! ms of 86 (-7.1 to +1.0); at 100,004 the keys -15 ms, the decisions -12 and
//! the inventory of a plan without a host +11.5 (+8.3 to +16.5), the plan -35 ms
//! of 913 (-76 to +25). (`perf` puts the inventory's time on its first touch of
//! each record's last step, as before; why that touch costs more now was not
//! found.) The journal's reader decodes the digits in place of scanning them for
//! the string's end ([`hex32`]); decoded a digit at a time, with a branch each,
//! the read was 1.7 ms slower at 10,004 guests. Held as the 64 digits
//! themselves, inline, a record's step grew by 48 bytes, and the read of 100,004
//! guests' records was 37 ms slower.
//!
//! Any other text (a record written by hand, a damaged one `serde_json` still
//! reads) is kept as it was read, so every record is written out as it came in:
//! a key is [`RecordedKey::Hex`] exactly when its text is 64 lowercase hex digits,
//! the only form phoenix writes, and such a key's text is its digits again.

use std::fmt;

use crate::key::Key;

/// A recorded step key (see the module's documentation).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum RecordedKey {
    /// 64 lowercase hex digits, as the bytes they write.
    Hex([u8; 32]),
    /// Any other text, as it was read.
    Text(Box<str>),
}

impl RecordedKey {
    /// The key whose text is `text`.
    pub fn new(text: &str) -> RecordedKey {
        match hex32(text.as_bytes()) {
            Some(bytes) => RecordedKey::Hex(bytes),
            None => RecordedKey::Text(text.into()),
        }
    }

    /// Whether this is `key`: the text of `key` in hex, as [`Key::hex`] writes it.
    pub fn is(&self, key: &Key) -> bool {
        matches!(self, RecordedKey::Hex(bytes) if *bytes == key.0)
    }

    /// Whether the key's text starts with `prefix`.
    pub fn starts_with(&self, prefix: &str) -> bool {
        match self {
            RecordedKey::Hex(bytes) => Key(*bytes).hex_bytes().starts_with(prefix.as_bytes()),
            RecordedKey::Text(text) => text.starts_with(prefix),
        }
    }

    /// The key's text (what `to_string` gives, without the formatting machinery).
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(64);
        self.push_to(&mut out);
        out
    }

    /// The key's text, written into `out`.
    pub fn push_to(&self, out: &mut String) {
        match self {
            RecordedKey::Hex(bytes) => Key(*bytes).push_hex(out),
            RecordedKey::Text(text) => out.push_str(text),
        }
    }
}

impl From<&str> for RecordedKey {
    fn from(text: &str) -> RecordedKey {
        RecordedKey::new(text)
    }
}

impl From<Key> for RecordedKey {
    fn from(key: Key) -> RecordedKey {
        RecordedKey::Hex(key.0)
    }
}

impl fmt::Display for RecordedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordedKey::Hex(bytes) => fmt::Display::fmt(&Key(*bytes), f),
            RecordedKey::Text(text) => f.write_str(text),
        }
    }
}

/// As the string it is, quoted: what a `String` key showed.
impl fmt::Debug for RecordedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text(), f)
    }
}

impl PartialEq<str> for RecordedKey {
    fn eq(&self, other: &str) -> bool {
        match self {
            RecordedKey::Hex(bytes) => Key(*bytes).is_hex(other),
            RecordedKey::Text(text) => **text == *other,
        }
    }
}

impl PartialEq<&str> for RecordedKey {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl serde::Serialize for RecordedKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RecordedKey::Hex(bytes) => {
                let digits = Key(*bytes).hex_bytes();
                // Hex digits are ASCII: this never takes the error branch.
                s.serialize_str(std::str::from_utf8(&digits).unwrap_or_default())
            }
            RecordedKey::Text(text) => s.serialize_str(text),
        }
    }
}

impl<'de> serde::Deserialize<'de> for RecordedKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RecordedKey, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = RecordedKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<RecordedKey, E> {
                Ok(RecordedKey::new(text))
            }
        }
        d.deserialize_str(Visit)
    }
}

/// The 32 bytes that `hex` writes, if it is 64 lowercase hex digits.
///
/// Each digit's value from a table, its two digits at once a byte, with no
/// branch but the last: the journal's reader decodes every step key it reads
/// (50,000 at 10,000 guests), in place of scanning the digits for the string's
/// end and copying them.
pub(super) fn hex32(hex: &[u8]) -> Option<[u8; 32]> {
    let hex: &[u8; 64] = hex.try_into().ok()?;
    let mut out = [0u8; 32];
    // Any digit that is not one has bit 4 set here.
    let mut not_digits = 0u8;
    for (b, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (hi, lo) = (DIGIT[usize::from(pair[0])], DIGIT[usize::from(pair[1])]);
        not_digits |= hi | lo;
        *b = hi << 4 | lo;
    }
    (not_digits & NOT_A_DIGIT == 0).then_some(out)
}

/// What [`DIGIT`] gives a byte that is not a lowercase hex digit.
const NOT_A_DIGIT: u8 = 0x10;

/// Each byte's value as a lowercase hex digit, or [`NOT_A_DIGIT`].
static DIGIT: [u8; 256] = {
    let mut t = [NOT_A_DIGIT; 256];
    let mut i = 0u8;
    while i < 16 {
        t[b"0123456789abcdef"[i as usize] as usize] = i;
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::RecordedKey;
    use crate::key::Key;

    /// A key's text comes back as it went in, whatever it is; only 64 lowercase
    /// hex digits are held as bytes, and only they are a [`Key`].
    #[test]
    fn every_text_comes_back_and_only_lowercase_digits_are_a_key() {
        let key = Key(*blake3::hash(b"x").as_bytes());
        let hex = key.hex();
        let held = RecordedKey::new(&hex);
        assert_eq!(held, RecordedKey::Hex(key.0));
        assert!(held.is(&key));
        assert!(!held.is(&Key([0; 32])));
        assert_eq!(held.to_string(), hex);
        assert_eq!(held.text(), hex);
        assert!(held == hex.as_str());
        let upper = hex.to_uppercase();
        let mut wrong = hex.clone().into_bytes();
        wrong[63] = b'g';
        let wrong = String::from_utf8(wrong).unwrap();
        for text in ["", "c", &hex[..63], &format!("{hex}0"), &upper, &wrong, "é"] {
            let held = RecordedKey::new(text);
            assert!(matches!(held, RecordedKey::Text(_)), "{text}");
            assert!(!held.is(&key), "{text}");
            assert_eq!(held.to_string(), text);
            assert_eq!(held.text(), text);
            assert!(held == text);
            assert!(held != hex.as_str(), "{text}");
            let mut out = String::from(">");
            held.push_to(&mut out);
            assert_eq!(out, format!(">{text}"));
        }
    }

    /// Written and read as the JSON string of its text, escapes included.
    #[test]
    fn json_is_the_string_of_its_text() {
        let hex = Key([0xab; 32]).hex();
        for text in [hex.as_str(), "a \"quoted\" \\ key", ""] {
            let held = RecordedKey::new(text);
            let json = serde_json::to_string(&held).unwrap();
            assert_eq!(json, serde_json::to_string(text).unwrap());
            let back: RecordedKey = serde_json::from_str(&json).unwrap();
            assert_eq!(back, held);
        }
        assert!(serde_json::from_str::<RecordedKey>("12").is_err());
        assert_eq!(format!("{:?}", RecordedKey::new(&hex)), format!("{hex:?}"));
    }
}
