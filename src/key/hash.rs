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
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    /// Whether `hex` is this key in hex (as records hold it), without making a
    /// string of it.
    pub fn is_hex(&self, hex: &str) -> bool {
        blake3::Hash::from_bytes(self.0).to_hex().as_str() == hex
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

/// The hasher every key starts from: deriving it from [`DOMAIN`] is a hash of its
/// own, done once.
static BASE: std::sync::LazyLock<blake3::Hasher> =
    std::sync::LazyLock::new(|| blake3::Hasher::new_derive_key(DOMAIN));

pub fn step_key(step: &Step, manifest: &Manifest, previous: Option<Key>) -> Key {
    // The bytes are gathered first and hashed in one update: blake3 is a stream, so
    // the key is the same, and one long update is much faster than many short ones.
    let mut bytes: Vec<u8> = Vec::with_capacity(
        64 + manifest
            .iter()
            .map(|(k, v)| k.len() + v.len() + 16)
            .sum::<usize>(),
    );
    let mut put = |s: &str| {
        bytes.extend_from_slice(&(s.len() as u64).to_le_bytes());
        bytes.extend_from_slice(s.as_bytes());
    };
    put(&step.to_string());
    for (k, v) in manifest {
        put(k);
        put(v);
    }
    bytes.extend_from_slice(&previous.map_or([0; 32], |k| k.0));
    let mut h = BASE.clone();
    h.update(&bytes);
    Key(*h.finalize().as_bytes())
}
