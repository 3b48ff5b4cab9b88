//! Text as the page shows it: report strings HTML-escaped, numbers,
//! durations and fractions in a readable form.

use std::borrow::Cow;

use maud::Render;

/// Text from the report, HTML-escaped for element content and quoted
/// attribute values. Stricter than maud's own escaping, which leaves `'`
/// alone: here `'` becomes `&#39;` too, so a value stays inert whichever
/// quote surrounds it.
pub(super) struct Esc<'a>(pub(super) &'a str);

impl Render for Esc<'_> {
    fn render_to(&self, buffer: &mut String) {
        let mut rest = self.0;
        while let Some(pos) = rest.find(['&', '<', '>', '"', '\'']) {
            buffer.push_str(&rest[..pos]);
            buffer.push_str(match rest.as_bytes()[pos] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            });
            rest = &rest[pos + 1..];
        }
        buffer.push_str(rest);
    }
}

/// At most `max` characters, with an ellipsis when cut.
pub(super) fn clip(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some(_) => {
            let cut = s
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(s.len(), |(i, _)| i);
            Cow::Owned(format!("{}…", &s[..cut]))
        }
    }
}

/// A number with four significant digits, in scientific notation when
/// very small or large; `–` when not finite.
pub(super) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        return format!("{v:.2e}");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Microseconds in a readable unit.
pub(super) fn micros(us: f64) -> String {
    if !us.is_finite() {
        return "–".to_string();
    }
    let a = us.abs();
    if a < 1_000.0 {
        format!("{} µs", num(us))
    } else if a < 1_000_000.0 {
        format!("{} ms", num(us / 1_000.0))
    } else {
        format!("{} s", num(us / 1_000_000.0))
    }
}

/// Microseconds in a readable unit, or `–` when there were no values.
pub(super) fn micros_or_dash(count: usize, us: f64) -> String {
    if count == 0 {
        "–".to_string()
    } else {
        micros(us)
    }
}

/// A fraction as a percentage; never rounds a disagreement up to 100 %.
pub(super) fn percent(fraction: f64) -> String {
    if !fraction.is_finite() {
        return "–".to_string();
    }
    if fraction >= 1.0 {
        return "100 %".to_string();
    }
    format!("{:.2} %", (fraction * 10_000.0).floor() / 100.0)
}

/// A count on a chart's y axis.
pub(super) fn count_label(v: f64) -> String {
    if v >= 1e6 {
        format!("{v:.1e}")
    } else {
        format!("{v:.0}")
    }
}

/// A coordinate with one decimal, as the SVG charts write them.
pub(super) fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// The plural ending for `n` things.
pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The items joined with commas, or `–` when there are none.
pub(super) fn join_or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "–".to_string()
    } else {
        items.join(", ")
    }
}
