//! Reading a definitions file off the disk, a large one on both cores.

use std::fs;
use std::path::Path;

/// The bytes of the file at `path`; a large one read in two halves at once.
///
/// Reading a file is copying it out of the page cache into memory the process
/// has not touched yet, and the kernel clears each fresh page first: the
/// 60 MB container file of 100,000 guests took 45 ms to read, on one core,
/// before anything else could start. Each half is read on a core of its own
/// (a positioned read, so the file is opened once). A file that changes size
/// while it is read is read again whole.
pub(super) fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::FileExt as _;
    /// Smaller files are read in one go: two threads would cost more.
    const SPLIT_FROM: u64 = 1 << 20;
    let mut file = fs::File::open(path)?;
    let meta = file.metadata()?;
    let len = meta.len();
    if !meta.is_file() || len < SPLIT_FROM {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        return Ok(bytes);
    }
    let Ok(size) = usize::try_from(len) else {
        return fs::read(path);
    };
    let mut bytes = vec![0u8; size];
    let (head, tail) = bytes.split_at_mut(size / 2);
    let (a, b) = rayon::join(
        || file.read_exact_at(head, 0),
        || file.read_exact_at(tail, (size / 2) as u64),
    );
    let mut more = [0u8; 1];
    match (a, b, file.read_at(&mut more, len)) {
        (Ok(()), Ok(()), Ok(0)) => Ok(bytes),
        // Shorter or longer than it was a moment ago: being written to.
        _ => fs::read(path),
    }
}

#[cfg(test)]
mod tests {
    use super::read_file;
    /// Read in halves or in one go, a file's bytes are its bytes: at every size
    /// around the split, odd sizes (halves of unequal length) included.
    #[test]
    fn a_file_read_in_halves_is_the_file() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for size in [
            0,
            1,
            (1 << 20) - 1,
            1 << 20,
            (1 << 20) + 1,
            3 * (1 << 20) + 7,
        ] {
            let bytes: Vec<u8> = (0..size)
                .map(|i: usize| (i * 7 + i / 251).to_le_bytes()[0])
                .collect();
            let path = dir.path().join(format!("f{size}"));
            std::fs::write(&path, &bytes).expect("the file is written");
            assert!(
                read_file(&path).expect("the file reads") == bytes,
                "{size} bytes"
            );
        }
        assert!(read_file(&dir.path().join("missing")).is_err());
    }
}
