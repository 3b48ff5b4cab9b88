//! The worst disagreements: the records where logged and candidate answers
//! differ most, largest difference first.

use maud::{Markup, html};

use super::super::report::{Disagreement, RescoreReport};
use super::format::{Esc, clip, num};

/// The `#disagreements` card, with the `#worst` table when there is any.
pub(super) fn section(r: &RescoreReport) -> Markup {
    let none = if r.replayed == 0 {
        "Nothing was replayed."
    } else {
        "None: every compared output matched."
    };
    html! {
        section.card #disagreements {
            h2 { "Worst disagreements" }
            @if r.worst.is_empty() {
                p.empty { (none) }
            } @else {
                table id="worst" class="worst" {
                    (head())
                    tbody {
                        @for (i, d) in r.worst.iter().enumerate() {
                            (row(i + 1, d))
                        }
                    }
                }
            }
        }
    }
}

/// The column headings.
fn head() -> Markup {
    html! {
        thead {
            tr {
                th.num { "#" }
                th { "Request id" }
                th { "Output" }
                th { "Logged" }
                th { "Candidate" }
                th.num { "|Δ|" }
            }
        }
    }
}

/// One disagreement; long values are clipped, in full in their tooltip.
fn row(rank: usize, d: &Disagreement) -> Markup {
    let output_class = if d.output == "error" {
        "mono bad"
    } else {
        "mono"
    };
    html! {
        tr {
            td.num { (rank) }
            td class="mono clip" title=(Esc(&clip(&d.id, 1000))) { (Esc(&clip(&d.id, 60))) }
            td class=(output_class) { (Esc(&clip(&d.output, 60))) }
            (value(&d.logged))
            (value(&d.candidate))
            td.num { (d.abs_diff.map_or_else(|| "–".to_string(), num)) }
        }
    }
}

/// A logged or candidate value.
fn value(s: &str) -> Markup {
    html! {
        td class="mono clip" title=(Esc(&clip(s, 1000))) { (Esc(&clip(s, 80))) }
    }
}
