//! Tests of every byte of a string, for the hot paths that check or cut text
//! (`json_text`, `defs::values`, `defs::skim`, `state::line`): [`any_byte`], which
//! the compiler turns into a few vector instructions, and [`run_until`], eight
//! bytes at a time in one number.

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

/// Eight bytes as one number, the first in the lowest bits: how [`run_until`]'s
/// tests see them.
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The top bit of each byte of `x` below `n` (at most 128) set, and perhaps of
/// some bytes above the first such (a borrow runs up from it): the lowest bit set
/// marks the first such byte exactly. The classic test for a byte less than `n`.
pub(crate) fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH
}

/// [`below`]'s marks of the bytes of `x` equal to `c`.
pub(crate) fn equal(x: u64, c: u8) -> u64 {
    below(x ^ (ONES * u64::from(c)), 1)
}

/// How many bytes at the start of `s` come before the first that `hit` picks,
/// or all: eight at a time, `hits` marking them in a word as [`below`] does
/// (its lowest mark exact), the last few bytes one at a time by `hit`.
///
/// Why. The readers of JSON text look for the next quote, backslash or bracket
/// in runs of a few to a few dozen bytes: a loop a byte at a time cost about five
/// instructions a byte, and `memchr` a call and its set-up for each short run.
#[inline]
pub(crate) fn run_until(s: &[u8], hits: impl Fn(u64) -> u64, hit: impl Fn(u8) -> bool) -> usize {
    let mut n = 0;
    while let Some(word) = s.get(n..n + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
        let marks = hits(u64::from_le_bytes(word));
        if marks != 0 {
            return n + (marks.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    let rest = &s[n..];
    n + rest.iter().position(|&c| hit(c)).unwrap_or(rest.len())
}

/// Whether a JSON string must escape `c`, and so cannot hold it as it is: a
/// quote, a backslash or a control character. What `json_text` escapes, and
/// where `state::line` stops in a manifest's strings.
pub(crate) fn json_escaped(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

/// How many bytes at the start of `s` a JSON string holds as they are: up to the
/// first it must escape ([`json_escaped`]), or all. Eight bytes at a time
/// ([`run_until`]): over the journal's manifests, whose strings are short with an
/// escape every few bytes, a loop a byte at a time cost about nine instructions a
/// byte.
pub(crate) fn json_plain_run(s: &[u8]) -> usize {
    run_until(
        s,
        |x| below(x, 0x20) | equal(x, b'"') | equal(x, b'\\'),
        json_escaped,
    )
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

    /// The first byte a JSON string must escape, written anywhere in runs of
    /// every length around the eight-byte words, ends the run there.
    #[test]
    fn a_json_plain_run_ends_at_the_first_byte_to_escape() {
        for len in 0..40 {
            let plain = vec![b'a'; len];
            assert_eq!(super::json_plain_run(&plain), len);
            for at in 0..len {
                for special in [b'"', b'\\', 0, 0x1f] {
                    let mut s = plain.clone();
                    s[at] = special;
                    if at + 1 < len {
                        s[len - 1] = b'"';
                    }
                    assert_eq!(super::json_plain_run(&s), at, "{len} {at} {special}");
                }
            }
        }
        assert_eq!(super::json_plain_run("é日\u{7f} ~\"".as_bytes()), 8);
    }

    /// Whatever the bytes around it (text beyond ASCII, bytes just above or below
    /// the ones looked for), the run ends at the first byte to escape.
    #[test]
    fn a_json_plain_run_of_any_bytes_ends_at_the_first_to_escape() {
        let bytes = [
            b'a', b' ', b'~', 0x7f, 0x80, 0xc3, 0xff, 0x21, 0x23, 0x5b, 0x5d, 0x5c, b'"', 0, 0x1f,
            0x20,
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n as u64).unwrap()
        };
        for _ in 0..20_000 {
            let len = next(40);
            let s: Vec<u8> = (0..len)
                .map(|_| {
                    bytes[if next(5) == 0 {
                        next(bytes.len())
                    } else {
                        next(12)
                    }]
                })
                .collect();
            let want = s
                .iter()
                .position(|&c| c < 0x20 || c == b'"' || c == b'\\')
                .unwrap_or(s.len());
            assert_eq!(super::json_plain_run(&s), want, "{s:?}");
        }
    }
}
