//! Tests of the key rules.
