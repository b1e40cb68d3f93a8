//! JSON strings written as `serde_json` writes them, straight into a `String`:
//! for the canonical texts of the keys (`defs::canon`) and for the plan's JSON
//! (`report::plan`), where going through `serde_json`'s serializer cost more
//! than the text it wrote.

/// `parts`, one after the other, as one JSON string: quoted and escaped as
/// `serde_json` escapes (`\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, any other
/// character below U+0020 as `\u00XX`; everything else as it is).
pub fn push_str(out: &mut String, parts: &[&str]) {
    out.push('"');
    for part in parts {
        push_escaped(out, part);
    }
    out.push('"');
}

fn push_escaped(out: &mut String, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.push_str(s);
        return;
    }
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            use std::fmt::Write as _;
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Whether `s` holds a byte JSON escapes: below 0x20, a quote or a backslash.
/// Most strings hold none, and are copied whole.
fn needs_escape(s: &[u8]) -> bool {
    crate::ascii::any_byte(s, crate::ascii::json_escaped)
}

#[cfg(test)]
mod tests {
    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let long = "p".repeat(40);
        for s in [
            "",
            "plain",
            "é ü 日本",
            "\"",
            "\\",
            "a\nb\rc\td\u{8}e\u{c}f",
            "\u{0}\u{1}\u{1f}\u{7f}\u{80}",
            &format!("{long}\"{long}"),
            &format!("{long}\u{1}"),
        ] {
            let mut out = String::from("x");
            super::push_str(&mut out, &[s]);
            assert_eq!(
                out,
                format!("x{}", serde_json::to_string(s).unwrap()),
                "{s:?}"
            );
            // Cut in two anywhere, the same string.
            for cut in (0..=s.len()).filter(|&i| s.is_char_boundary(i)) {
                let mut parts = String::new();
                super::push_str(&mut parts, &[&s[..cut], &s[cut..]]);
                assert_eq!(
                    parts,
                    serde_json::to_string(s).unwrap(),
                    "{s:?} cut at {cut}"
                );
            }
        }
    }
}
