//! Keys and manifests: the types every stage shares, and the one hash that turns a
//! step's manifest into its key.
//!
//! The hash is domain-separated and length-prefixes every string, so no two
//! manifests (or a manifest and a step name) can run together into the same bytes.
//! Changing `DOMAIN` or the encoding changes every key ever recorded: the
//! `golden_keys` integration test pins them.

use std::fmt;

use crate::step::Step;

/// A step key: blake3 of the step kind, its manifest and the previous key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub [u8; 32]);

impl Key {
    pub fn hex(&self) -> String {
        let hex = self.hex_bytes();
        // Hex digits are ASCII: this never takes the error branch.
        std::str::from_utf8(&hex).map_or_else(|_| String::new(), str::to_string)
    }

    /// [`Key::hex`] appended to `out`, with no string of its own.
    pub fn push_hex(&self, out: &mut String) {
        if let Ok(hex) = std::str::from_utf8(&self.hex_bytes()) {
            out.push_str(hex);
        }
    }

    /// Whether `hex` is this key in hex (as records hold it), without making a
    /// string of it: each byte's two digits compared in turn, stopping at the
    /// first that differ. (Writing the key's 64 digits out and comparing them
    /// cost twice as much: a no-op plan compares every step's key.)
    pub fn is_hex(&self, hex: &str) -> bool {
        let hex = hex.as_bytes();
        hex.len() == 64
            && self
                .0
                .iter()
                .zip(hex.chunks_exact(2))
                .all(|(&b, pair)| HEX_PAIRS[usize::from(b)] == *pair)
    }

    /// The key in lowercase hex, two digits a byte from one table look-up each.
    /// `blake3::Hash::to_hex` pushes a digit at a time into a bounded string,
    /// with a check each time: a no-op plan compares 60,000 keys at 10,000 guests,
    /// and that was 2.5% of it.
    pub(crate) fn hex_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        for (pair, &b) in out.chunks_exact_mut(2).zip(&self.0) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
        }
        out
    }

    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// Each byte's two lowercase hex digits.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [DIGITS[i >> 4], DIGITS[i & 15]];
        i += 1;
    }
    t
};

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.short())
    }
}

pub use super::manifest::Manifest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepKey {
    /// `define`, `configure`, `feature:base_setup`, `app`, `snapshot`, `template`, `run`.
    pub step: Step,
    pub key: Key,
    /// What entered the key; empty when the assessment did not keep it
    /// ([`crate::key::assess_keeping`]).
    pub manifest: Manifest,
}

/// The desired keys of one node.
#[derive(Debug, Clone)]
pub struct NodeKeys {
    /// Content steps in execution order; each key chains the one before.
    pub chain: Vec<StepKey>,
    /// The settings step, beside the chain.
    pub configure: Option<StepKey>,
}

impl NodeKeys {
    /// The key of the last content step: what clones consume and what is stamped on the guest.
    pub fn output(&self) -> Key {
        self.chain.last().map_or(Key([0; 32]), |s| s.key)
    }
}

/// Separates phoenix step keys from any other blake3 use; part of every key.
const DOMAIN: &str = "phoenix step key 2026-11 v1";

pub fn step_key(step: &Step, manifest: &Manifest, previous: Option<Key>) -> Key {
    step_key_of(step, manifest, previous)
}

/// [`step_key`] of a manifest's entries, given in name order, one per name (a
/// manifest's, or a [`super::draft::Sorted`]'s).
pub(super) fn step_key_of<'e>(
    step: &Step,
    entries: impl IntoIterator<Item = (&'e str, &'e str)>,
    previous: Option<Key>,
) -> Key {
    // The bytes are gathered first and hashed in one update: blake3 is a stream, so
    // the key is the same, and one long update is much faster than many short ones.
    //
    // Gathered in a buffer each thread keeps (every step of every guest is
    // hashed), and hashed by a hasher each thread keeps, reset after each key:
    // deriving it from [`DOMAIN`] is a hash of its own, and a copy of one made
    // once copied its 1.9 KB of state for every key (6.6M instructions, about 4%
    // of what the keys of 10,000 guests cost).
    thread_local! {
        static SCRATCH: std::cell::RefCell<(Vec<u8>, blake3::Hasher)> =
            std::cell::RefCell::new((Vec::new(), blake3::Hasher::new_derive_key(DOMAIN)));
    }
    SCRATCH.with_borrow_mut(|(bytes, h)| {
        bytes.clear();
        let put = |bytes: &mut Vec<u8>, parts: &[&str]| {
            let len: usize = parts.iter().map(|p| p.len()).sum();
            bytes.extend_from_slice(&(len as u64).to_le_bytes());
            for p in parts {
                bytes.extend_from_slice(p.as_bytes());
            }
        };
        // The step's name as `Display` writes it, without making a string of it.
        match step {
            Step::Feature(name) => put(bytes, &["feature:", name]),
            other => put(bytes, &[other.name()]),
        }
        for (k, v) in entries {
            put(bytes, &[k]);
            put(bytes, &[v]);
        }
        bytes.extend_from_slice(&previous.map_or([0; 32], |k| k.0));
        h.update(bytes);
        let key = Key(*h.finalize().as_bytes());
        h.reset();
        key
    })
}

#[cfg(test)]
mod tests {
    use super::Key;

    #[test]
    fn hex_is_blake3s_own_and_is_hex_tells_keys_apart() {
        for seed in [&b""[..], b"a", b"phoenix", &[0xff; 70]] {
            let key = Key(*blake3::hash(seed).as_bytes());
            let theirs = blake3::hash(seed).to_hex().to_string();
            assert_eq!(key.hex(), theirs);
            let mut pushed = String::from("x");
            key.push_hex(&mut pushed);
            assert_eq!(pushed, format!("x{theirs}"));
            assert!(key.is_hex(&theirs));
            assert!(!key.is_hex(&theirs.to_uppercase()));
            assert!(!key.is_hex(&theirs[..63]));
            for at in [0, 1, 30, 62, 63] {
                let mut other = theirs.clone().into_bytes();
                other[at] = if other[at] == b'0' { b'1' } else { b'0' };
                assert!(!key.is_hex(std::str::from_utf8(&other).unwrap()));
            }
            assert!(!key.is_hex(&format!("{theirs}0")));
        }
        assert_eq!(Key([0; 32]).hex(), "0".repeat(64));
        assert_eq!(Key([0xab; 32]).hex(), "ab".repeat(32));
    }
}
