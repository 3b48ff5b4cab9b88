//! The latency card: logged against candidate latency as a table (with
//! their ratio) and as overlaid histograms with p50 and p99 markers.

use maud::{Markup, html};

use super::super::report::{Latency, Summary};
use super::charts::{Chart, Marker, Series, bar_chart};
use super::format::{micros, micros_or_dash};
use super::{CANDIDATE, LOGGED};

/// The `#latency` card.
pub(super) fn section(l: &Latency) -> Markup {
    html! {
        section.card #latency {
            h2 { "Latency" }
            (table(l))
            (chart(l))
            p.note {
                "Logged latency was measured in production, candidate latency on this \
                 machine during the replay: compare shapes, and absolute values only when \
                 both ran on the same kind of machine."
            }
        }
    }
}

/// Count, mean and percentiles of both sides, and candidate over logged.
fn table(l: &Latency) -> Markup {
    html! {
        table.latency {
            thead {
                tr {
                    th {}
                    th.num { "Count" }
                    th.num { "Mean" }
                    th.num { "p50" }
                    th.num { "p99" }
                    th.num { "Max" }
                }
            }
            tbody {
                (row("Logged", LOGGED, &l.logged_us))
                (row("Candidate", CANDIDATE, &l.candidate_us))
                (ratio_row(&l.candidate_us, &l.logged_us))
            }
        }
    }
}

/// One side's numbers, behind a swatch of its chart colour.
fn row(name: &str, color: &str, s: &Summary) -> Markup {
    html! {
        tr {
            th { span.swatch style={ "background:" (color) } {} (name) }
            td.num { (s.count) }
            td.num { (micros_or_dash(s.count, s.mean)) }
            td.num { (micros_or_dash(s.count, s.p50)) }
            td.num { (micros_or_dash(s.count, s.p99)) }
            td.num { (micros_or_dash(s.count, s.max)) }
        }
    }
}

/// Candidate over logged, for each statistic.
fn ratio_row(candidate: &Summary, logged: &Summary) -> Markup {
    html! {
        tr.ratio {
            th { "Candidate / logged" }
            td {}
            td.num { (ratio(candidate.mean, logged.mean)) }
            td.num { (ratio(candidate.p50, logged.p50)) }
            td.num { (ratio(candidate.p99, logged.p99)) }
            td.num { (ratio(candidate.max, logged.max)) }
        }
    }
}

/// `×c/g`, or `–` when it means nothing.
fn ratio(c: f64, g: f64) -> String {
    if g > 0.0 && c.is_finite() && g.is_finite() {
        format!("×{:.2}", c / g)
    } else {
        "–".to_string()
    }
}

/// Both sides' histograms in one chart, with their percentiles marked.
fn chart(l: &Latency) -> Markup {
    bar_chart(&Chart {
        id: "chart-latency",
        class: "chart chart-latency",
        title: "Latency distribution, logged against candidate",
        x_label: "latency per request",
        y_label: "requests",
        series: vec![
            Series {
                name: "logged",
                color: LOGGED,
                bins: &l.logged_histogram,
            },
            Series {
                name: "candidate",
                color: CANDIDATE,
                bins: &l.candidate_histogram,
            },
        ],
        markers: markers(l),
        fmt_x: micros,
    })
}

/// p50 (short dashes) and p99 (long dashes) of each side that has values.
fn markers(l: &Latency) -> Vec<Marker> {
    let sides = [
        ("logged", &l.logged_us, LOGGED),
        ("candidate", &l.candidate_us, CANDIDATE),
    ];
    let mut markers = Vec::new();
    for (side, s, color) in sides {
        if s.count == 0 {
            continue;
        }
        markers.push(Marker {
            value: s.p50,
            label: format!("{side} p50 {}", micros(s.p50)),
            color,
            dash: "3 3",
        });
        markers.push(Marker {
            value: s.p99,
            label: format!("{side} p99 {}", micros(s.p99)),
            color,
            dash: "8 3",
        });
    }
    markers
}
