//! The outputs table: one row per output with what was compared, how
//! closely it agrees and whether it differs, linking to its card.

use maud::{Markup, html};

use super::super::report::{OutputComparison, RescoreReport, Summary};
use super::format::{Esc, num, percent};

/// The `#summary` card.
pub(super) fn section(r: &RescoreReport, ids: &[String]) -> Markup {
    html! {
        section.card #summary {
            h2 { "Outputs" }
            @if r.outputs.is_empty() {
                p.empty { "No outputs were compared." }
            } @else {
                table.summary {
                    (head())
                    tbody {
                        @for (o, id) in r.outputs.iter().zip(ids) {
                            (row(o, id))
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
                th { "Output" }
                th { "Kind" }
                th.num { "Compared" }
                th.num { "Shape mismatches" }
                th { "Label agreement" }
                th.num { "Mean |Δ|" }
                th.num { "p99 |Δ|" }
                th.num { "Max |Δ|" }
                th { "Status" }
            }
        }
    }
}

/// One output's row; its name links to its chart or matrix.
fn row(o: &OutputComparison, id: &str) -> Markup {
    let anchor = match o.kind.as_str() {
        "labels" => format!("confusion-{id}"),
        _ => format!("chart-diff-{id}"),
    };
    let shape_class = if o.mismatched_shape > 0 {
        "num bad"
    } else {
        "num"
    };
    html! {
        tr {
            td { a href={ "#" (Esc(&anchor)) } class="mono" { (Esc(&o.name)) } }
            td { span.chip.kind { (Esc(&o.kind)) } }
            td.num { (o.compared) }
            td class=(shape_class) { (o.mismatched_shape) }
            td {
                @match o.agreement {
                    Some(a) => (meter(a)),
                    None => span.dim { "–" },
                }
            }
            (diff_cells(o.abs_diff.as_ref()))
            td { (status(o)) }
        }
    }
}

/// Mean, p99 and max of the absolute differences, or dashes for labels.
fn diff_cells(d: Option<&Summary>) -> Markup {
    html! {
        @match d {
            Some(d) => {
                td.num { (num(d.mean)) }
                td.num { (num(d.p99)) }
                td.num { (num(d.max)) }
            }
            None => {
                td class="num dim" { "–" }
                td class="num dim" { "–" }
                td class="num dim" { "–" }
            }
        }
    }
}

/// Identical, differs or not compared, as a chip.
fn status(o: &OutputComparison) -> Markup {
    html! {
        @match output_identical(o) {
            Some(true) => span.chip.ok { "identical" },
            Some(false) => span.chip.bad { "differs" },
            None => span.chip.kind { "not compared" },
        }
    }
}

/// An agreement fraction as a percentage with a small bar.
fn meter(fraction: f64) -> Markup {
    let width = if fraction.is_finite() {
        (fraction * 100.0).clamp(0.0, 100.0)
    } else {
        0.0
    };
    html! {
        span.meter { span style={ "width:" (format!("{width:.1}")) "%" } {} }
        " " (percent(fraction))
    }
}

/// Whether the candidate gave exactly the logged answers for this output;
/// `None` when nothing was compared.
pub(super) fn output_identical(o: &OutputComparison) -> Option<bool> {
    if o.mismatched_shape > 0 {
        return Some(false);
    }
    if o.compared == 0 {
        return None;
    }
    match (o.agreement, &o.abs_diff) {
        (Some(a), _) => Some(a >= 1.0),
        (None, Some(d)) => Some(d.max == 0.0),
        (None, None) => None,
    }
}
