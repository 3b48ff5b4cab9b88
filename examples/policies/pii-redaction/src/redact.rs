//! The redaction itself: plain text in, redacted text out. No host calls,
//! so it is unit-tested natively (`cargo test -p pii-redaction`).

use std::ops::Range;
use std::sync::OnceLock;

use regex::{Regex, RegexBuilder};

/// Replacement for an e-mail address.
pub(crate) const EMAIL: &str = "[EMAIL]";
/// Replacement for a phone number.
pub(crate) const PHONE: &str = "[PHONE]";
/// Replacement for a payment card number.
pub(crate) const CARD: &str = "[CARD]";

/// `local@domain.tld`, ASCII only.
const EMAIL_PATTERN: &str = r"[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}";

/// 13 to 19 digits, optionally grouped by single spaces or dashes; the Luhn
/// check is done on each match.
const CARD_PATTERN: &str = r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)";

/// International numbers (`+CC` then groups, optional area code in
/// parentheses) and national ones written with separators: `(555) 123-4567`,
/// `555-123-4567`, `555.123.4567`, `020 7946 0958`, `06 12 34 56 78`. A bare
/// run of digits without `+` is not taken for a phone number, nor is a date
/// like `2024-01-15`. The digit count (7 to 15) is checked on each match.
const PHONE_PATTERN: &str = r"(?x)
      \+[0-9]{1,3} (?:[\ .-]?\([0-9]{1,4}\))? (?:[\ .-]?[0-9]{1,4}){1,6}
    | \([0-9]{2,5}\) [\ .-]?[0-9]{3,4} [\ .-]?[0-9]{3,4} (?-u:\b)
    | (?-u:\b)[0-9]{2,5} [\ .-][0-9]{3,4} [\ .-][0-9]{3,4} (?-u:\b)
    | (?-u:\b)[0-9]{2} (?:[\ .-][0-9]{2}){4} (?-u:\b)
";

/// Cap on each pattern's lazy-DFA cache, so the three fit comfortably in a
/// policy's small memory limit (past it the regex engine falls back to a
/// slower search; it never fails).
const DFA_CACHE_BYTES: usize = 256 * 1024;

/// The compiled patterns, built once per instance.
struct Patterns {
    /// [`EMAIL_PATTERN`].
    email: Regex,
    /// [`CARD_PATTERN`].
    card: Regex,
    /// [`PHONE_PATTERN`].
    phone: Regex,
}

/// The patterns, compiled on first use.
fn patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        // The patterns are constants (covered by the tests), not input.
        let compile = |pattern| {
            RegexBuilder::new(pattern)
                .dfa_size_limit(DFA_CACHE_BYTES)
                .build()
                .expect("built-in pattern compiles")
        };
        Patterns {
            email: compile(EMAIL_PATTERN),
            card: compile(CARD_PATTERN),
            phone: compile(PHONE_PATTERN),
        }
    })
}

/// The ASCII digits of `s`, as numbers.
fn digits(s: &str) -> impl DoubleEndedIterator<Item = u32> + '_ {
    s.chars().filter_map(|c| c.to_digit(10))
}

/// The Luhn checksum that every payment card number satisfies.
fn luhn_valid(number: &str) -> bool {
    let sum: u32 = digits(number)
        .rev()
        .enumerate()
        .map(|(i, d)| match (i % 2, d * 2) {
            (0, _) => d,
            (_, doubled) if doubled > 9 => doubled - 9,
            (_, doubled) => doubled,
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether the match at `span` continues into more digits through a dot,
/// as in an IP address or a version string (`192.168.100.200`).
fn glued_to_digits(text: &str, span: &Range<usize>) -> bool {
    let before = &text.as_bytes()[..span.start];
    let after = &text.as_bytes()[span.end..];
    matches!(before, [.., d, b'.'] if d.is_ascii_digit())
        || matches!(after, [b'.', d, ..] if d.is_ascii_digit())
}

/// Replaces each match of `re` that `accept(text, span)` approves with
/// `label`.
fn replace(
    text: &str,
    re: &Regex,
    label: &str,
    accept: impl Fn(&str, &Range<usize>) -> bool,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for found in re.find_iter(text) {
        let span = found.range();
        if accept(text, &span) {
            out.push_str(&text[copied..span.start]);
            out.push_str(label);
            copied = span.end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// `text` with e-mail addresses, card numbers and phone numbers replaced by
/// [`EMAIL`], [`CARD`] and [`PHONE`]; `None` when there was nothing to
/// redact.
pub(crate) fn redact(text: &str) -> Option<String> {
    let p = patterns();
    // E-mails first (their local part may hold digits), then cards (whose
    // digit groups could pass for a phone number), then phones.
    let out = replace(text, &p.email, EMAIL, |_, _| true);
    let out = replace(&out, &p.card, CARD, |t, span| luhn_valid(&t[span.clone()]));
    let out = replace(&out, &p.phone, PHONE, |t, span| {
        (7..=15).contains(&digits(&t[span.clone()]).count()) && !glued_to_digits(t, span)
    });
    (out != text).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> String {
        redact(text).unwrap_or_else(|| text.to_string())
    }

    #[test]
    fn emails() {
        assert_eq!(
            r("mail jane.doe+x@mail.example.co.uk now"),
            "mail [EMAIL] now"
        );
        assert_eq!(r("a@b.io, c_d@e-f.org"), "[EMAIL], [EMAIL]");
        assert_eq!(r("user@localhost"), "user@localhost");
    }

    #[test]
    fn cards_need_a_valid_checksum() {
        assert_eq!(r("card 4111 1111 1111 1111."), "card [CARD].");
        assert_eq!(r("4111-1111-1111-1111"), "[CARD]");
        assert_eq!(r("5500005555555559"), "[CARD]");
        assert_eq!(r("amex 378282246310005"), "amex [CARD]");
        // Luhn-invalid 16 digits without separators: neither card nor phone.
        assert_eq!(r("order 4111111111111112"), "order 4111111111111112");
        // Too short to be a card.
        assert_eq!(r("id 424242424242"), "id 424242424242");
    }

    #[test]
    fn phones() {
        for phone in [
            "+1 (555) 123-4567",
            "+44 20 7946 0958",
            "+33 6 12 34 56 78",
            "+4915123456789",
            "+1-555-123-4567",
            "(555) 123-4567",
            "(555)123-4567",
            "555-123-4567",
            "555.123.4567",
            "020 7946 0958",
            "06 12 34 56 78",
        ] {
            assert_eq!(
                r(&format!("call {phone} today")),
                "call [PHONE] today",
                "{phone}"
            );
        }
    }

    #[test]
    fn numbers_that_are_not_phones() {
        for text in [
            "on 2024-01-15",
            "on 15.01.2024",
            "+12 34",
            "pi is 3.14159",
            "costs 1,234,567",
            "version 1.2.3",
            "5551234567",
            "host 192.168.100.200 is down",
            "build 2024.100.2000.1",
        ] {
            assert_eq!(redact(text), None, "{text}");
        }
    }

    #[test]
    fn mixed_text() {
        assert_eq!(
            r("Jane (jane@corp.com, +1 555 123 4567) paid with 4242 4242 4242 4242."),
            "Jane ([EMAIL], [PHONE]) paid with [CARD]."
        );
        assert_eq!(r("call 555.123.4567."), "call [PHONE].");
        assert_eq!(r("é+44 20 7946 0958é"), "é[PHONE]é");
        assert_eq!(
            r("a@b.io\u{fffd}4111 1111 1111 1111"),
            "[EMAIL]\u{fffd}[CARD]"
        );
        assert_eq!(redact("nothing to see"), None);
        assert_eq!(redact(""), None);
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("4111111111111112"));
    }
}
