//! How the state directory fails: another build holds it, or a file could not be
//! read or written.

use std::path::PathBuf;

use crate::fsutil::FileError;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("another phoenix build holds `{}`{holder}; wait for it to finish, or stop it first", path.display())]
    Locked { path: PathBuf, holder: String },
    #[error(transparent)]
    Io(#[from] FileError),
}
