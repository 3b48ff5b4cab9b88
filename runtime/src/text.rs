//! Text that came from outside the host (a guest's log lines, error
//! messages and panic output; a policy's denial reason) made safe to log
//! and to send back: bounded in length, with every control character
//! escaped, so it can neither flood a log nor forge a line of its own.

use std::fmt::Write;

/// Most bytes of outside text kept in one message.
pub const MAX_TEXT: usize = 1024;

/// `text` with control characters escaped (`\n`, `\u{1b}`, ...) and cut to
/// at most [`MAX_TEXT`] bytes, saying how much was cut.
pub fn outside_text(text: &str) -> String {
    bounded(text, MAX_TEXT)
}

/// [`outside_text`] with a bound of `max` bytes (before escaping).
pub fn bounded(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let kept = &text[..end];
    let mut out = String::with_capacity(kept.len() + 16);
    for c in kept.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            // C0 and C1 controls, DEL, the Unicode line and paragraph
            // separators, and the invisible format characters (bidi
            // overrides and isolates, zero-width marks, the BOM): anything a
            // terminal or log reader could take as a line end or an escape
            // sequence, or that reorders how a line displays.
            c if c.is_control() || is_invisible_format(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    if end < text.len() {
        let _ = write!(out, "… ({} more bytes cut)", text.len() - end);
    }
    out
}

/// Unicode format (Cf) characters a log reader may act on, and the line
/// and paragraph separators.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00ad}'
        | '\u{061c}'
        | '\u{180e}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_line_breaks_and_escape_sequences() {
        assert_eq!(
            outside_text("ok\n2026-12-02T00:00:00Z WARN edgeserve::audit: forged"),
            "ok\\n2026-12-02T00:00:00Z WARN edgeserve::audit: forged"
        );
        assert_eq!(
            outside_text("a\r\u{1b}[31mb\u{2028}"),
            "a\\r\\u{1b}[31mb\\u{2028}"
        );
        // A right-to-left override cannot reorder the line.
        assert_eq!(outside_text("ok\u{202e}txt.exe"), "ok\\u{202e}txt.exe");
        assert_eq!(outside_text("back\\slash"), "back\\\\slash");
        assert_eq!(outside_text("plain café"), "plain café");
    }

    #[test]
    fn cuts_long_text_on_a_character_boundary() {
        let long = "é".repeat(2000);
        let out = bounded(&long, 5);
        assert_eq!(out, "éé… (3996 more bytes cut)");
        assert_eq!(
            outside_text(&"x".repeat(8 << 20)).len(),
            MAX_TEXT + " (8387584 more bytes cut)".len() + "…".len()
        );
    }
}
