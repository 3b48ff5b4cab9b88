//! The confusion matrix of a label output: logged labels as rows, the
//! candidate's as columns, cells shaded by count (agreement in blue on the
//! diagonal, disagreement in red off it).

use maud::{Markup, html};

use super::super::report::Confusion;
use super::format::{Esc, clip, percent};

/// Diagonal cells (logged and candidate agree).
const AGREE_RGB: (u8, u8, u8) = (78, 121, 167);
/// Off-diagonal cells (they disagree).
const DISAGREE_RGB: (u8, u8, u8) = (214, 69, 69);

/// The matrix as a table with id `confusion-<id>`.
pub(super) fn matrix(c: &Confusion, id: &str) -> Markup {
    let max = largest(c);
    html! {
        div.matrix-wrap {
            table id={ "confusion-" (id) } class="confusion" {
                (head(c))
                tbody {
                    @for (i, label) in c.labels.iter().enumerate() {
                        (row(c, i, label, max))
                    }
                }
            }
        }
    }
}

/// A cell's count; a ragged matrix's missing cells count as zero.
fn cell(c: &Confusion, i: usize, j: usize) -> u64 {
    c.counts
        .get(i)
        .and_then(|row| row.get(j))
        .copied()
        .unwrap_or(0)
}

/// The largest count in the matrix.
fn largest(c: &Confusion) -> u64 {
    let n = c.labels.len();
    (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .map(|(i, j)| cell(c, i, j))
        .max()
        .unwrap_or(0)
}

/// The header row: the candidate's labels, then total and agreement.
fn head(c: &Confusion) -> Markup {
    html! {
        thead {
            tr {
                th.corner { "logged ↓ \u{a0}candidate →" }
                @for label in &c.labels {
                    th.col title=(Esc(label)) { span.lbl { (Esc(&clip(label, 24))) } }
                }
                th.num { "total" }
                th.num { "agree" }
            }
        }
    }
}

/// One logged label: its counts against each candidate label, its total
/// and how much of it the candidate agrees with.
fn row(c: &Confusion, i: usize, label: &str, max: u64) -> Markup {
    let n = c.labels.len();
    let total: u64 = (0..n).map(|j| cell(c, i, j)).sum();
    let agree = if total == 0 {
        "–".to_string()
    } else {
        percent(cell(c, i, i) as f64 / total as f64)
    };
    html! {
        tr {
            th.row title=(Esc(label)) { span.lbl { (Esc(&clip(label, 24))) } }
            @for j in 0..n {
                (count_cell(c, i, j, max))
            }
            td class="num total" { (total) }
            td.num { (agree) }
        }
    }
}

/// One count, shaded by its size relative to the largest.
fn count_cell(c: &Confusion, i: usize, j: usize, max: u64) -> Markup {
    let count = cell(c, i, j);
    if count == 0 {
        return html! { td.zero { "·" } };
    }
    // sqrt keeps small off-diagonal counts visible next to a large
    // diagonal.
    let t = (count as f64 / max.max(1) as f64).sqrt();
    let ((r, g, b), class) = if i == j {
        (AGREE_RGB, "diag")
    } else {
        (DISAGREE_RGB, "off")
    };
    let alpha = 0.10 + 0.90 * t;
    let ink = if alpha > 0.55 { "#fff" } else { "#1f2933" };
    let logged = c.labels.get(i).map_or("", String::as_str);
    let candidate = c.labels.get(j).map_or("", String::as_str);
    html! {
        td class=(class)
            style=(format!("background:rgba({r},{g},{b},{alpha:.2});color:{ink}"))
            title={
                "logged " (Esc(&clip(logged, 80)))
                " → candidate " (Esc(&clip(candidate, 80))) ": " (count)
            }
        { (count) }
    }
}
