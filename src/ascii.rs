//! A test of every byte of a string that the compiler turns into a few vector
//! instructions, for the hot paths that check text (`json_text`, `defs::values`).

/// Whether `hit` picks any byte of `s`. `hit` must not pick a space.
///
/// Looked at sixteen bytes at a time without stopping early, each block of a
/// fixed size (the last padded with spaces), which the compiler turns into a few
/// vector instructions: most strings checked here are short and pass, and a loop
/// a byte at a time (or over blocks of any length) cost several instructions a
/// byte.
#[inline]
pub(crate) fn any_byte(s: &[u8], hit: impl Fn(u8) -> bool) -> bool {
    let block_hits = |block: &[u8; 16]| block.iter().fold(0u8, |n, &c| n | u8::from(hit(c))) != 0;
    let mut blocks = s.chunks_exact(16);
    for block in &mut blocks {
        if <&[u8; 16]>::try_from(block).map_or(true, block_hits) {
            return true;
        }
    }
    let rest = blocks.remainder();
    let mut last = [b' '; 16];
    last[..rest.len()].copy_from_slice(rest);
    block_hits(&last)
}

#[cfg(test)]
mod tests {
    #[test]
    fn any_byte_sees_every_place() {
        for len in 0..40 {
            let plain = vec![b'a'; len];
            assert!(!super::any_byte(&plain, |c| c == b'x'));
            for at in 0..len {
                let mut s = plain.clone();
                s[at] = b'x';
                assert!(super::any_byte(&s, |c| c == b'x'), "{len} {at}");
            }
        }
    }
}
