//! Small file utilities shared by the state directory and the backends: an atomic
//! write and an I/O error that names what was being done to which file.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An I/O failure with the action and the file it was about.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} `{}`: {source}", path.display())]
pub struct FileError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// A `map_err` adapter: `fs::read(&p).map_err(file_error("read", &p))`.
pub fn file_error(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> FileError + use<> {
    let path = path.to_path_buf();
    move |source| FileError {
        action,
        path,
        source,
    }
}

/// Replace `path` with `bytes` so that a crash leaves either the old or the new
/// contents, never a torn file: write a temporary file beside it, fsync it, rename it
/// over the old one, and fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("record");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = File::create(&tmp).map_err(file_error("create", &tmp))?;
    let written = f
        .write_all(bytes)
        .map_err(file_error("write", &tmp))
        .and_then(|()| f.sync_all().map_err(file_error("sync", &tmp)));
    drop(f);
    if let Err(e) =
        written.and_then(|()| fs::rename(&tmp, path).map_err(file_error("rename", path)))
    {
        // A full disk must not be left fuller by a temporary nobody will read.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Ok(d) = File::open(dir) {
        // Makes the rename itself durable; not every filesystem supports it.
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(&dir.path().join("no/such/f"), b"x").unwrap_err();
        assert_eq!(err.action, "create");
        assert!(err.to_string().contains("no/such"), "{err}");
    }
}
