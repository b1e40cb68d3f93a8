//! Tests of the typed values.
