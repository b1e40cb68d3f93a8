//! The one integration test binary: runs the real `phoenix` executable on real
//! definition trees (the shared fixtures, the bundled graph-defs, broken corpora).

mod helpers;

mod fixtures;
