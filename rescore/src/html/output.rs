//! One card per output: label agreement and the confusion matrix for a
//! label output, the difference statistics and histogram for a numeric
//! one.

use maud::{Markup, html};

use super::super::report::{OutputComparison, Summary};
use super::DIFF;
use super::charts::{Chart, Series, bar_chart};
use super::confusion::matrix;
use super::format::{Esc, num, percent, plural};

/// The card of one output; `id` is its element id suffix.
pub(super) fn section(o: &OutputComparison, id: &str) -> Markup {
    html! {
        section class="card output" {
            h2 {
                span.mono { (Esc(&o.name)) }
                " "
                span.chip.kind { (Esc(&o.kind)) }
            }
            @if o.kind == "labels" {
                (labels(o, id))
            } @else {
                (numbers(o, id))
            }
        }
    }
}

/// A label output: agreement and the confusion matrix (or why there is
/// none).
fn labels(o: &OutputComparison, id: &str) -> Markup {
    html! {
        @if let Some(a) = o.agreement {
            p.stats {
                "Label agreement " b { (percent(a)) } " over " (o.compared)
                " element" (plural(o.compared)) "."
            }
        }
        @match &o.confusion {
            Some(c) => (matrix(c, id)),
            None => p.empty id={ "confusion-" (id) } {
                "No confusion matrix: too many distinct labels (or none compared)."
            },
        }
    }
}

/// A numeric output: statistics of the absolute differences and their
/// histogram.
fn numbers(o: &OutputComparison, id: &str) -> Markup {
    let title = format!("Absolute differences of {}", o.name);
    let chart_id = format!("chart-diff-{id}");
    let chart = Chart {
        id: &chart_id,
        class: "chart chart-diff",
        title: &title,
        x_label: "absolute difference |candidate − logged|",
        y_label: "elements",
        series: vec![Series {
            name: "elements",
            color: DIFF,
            bins: &o.histogram,
        }],
        markers: Vec::new(),
        fmt_x: num,
    };
    html! {
        @if let Some(d) = &o.abs_diff {
            (diff_stats(d))
        }
        (bar_chart(&chart))
    }
}

/// One line on the absolute differences.
fn diff_stats(d: &Summary) -> Markup {
    html! {
        p.stats {
            "Absolute difference over " (d.count) " element" (plural(d.count))
            ": mean " b { (num(d.mean)) }
            ", p50 " b { (num(d.p50)) }
            ", p99 " b { (num(d.p99)) }
            ", max " b { (num(d.max)) } "."
        }
    }
}
