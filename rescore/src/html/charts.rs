//! Histograms as inline SVG: bars per bin (grouped when there are several
//! series, which share bin edges), a grid with count ticks, an x axis of
//! bin edges, percentile markers and a legend.

use maud::{Markup, html};

use super::super::report::Bin;
use super::format::{Esc, count_label, f1};

/// One histogram drawn in a chart.
pub(super) struct Series<'a> {
    /// Its name, in the legend and bar tooltips.
    pub(super) name: &'a str,
    /// Its bars' colour.
    pub(super) color: &'a str,
    /// Its bins.
    pub(super) bins: &'a [Bin],
}

/// A vertical line at a value (a percentile).
pub(super) struct Marker {
    /// Where on the x axis.
    pub(super) value: f64,
    /// Its label, beside the line.
    pub(super) label: String,
    /// Line and label colour.
    pub(super) color: &'static str,
    /// SVG `stroke-dasharray`.
    pub(super) dash: &'static str,
}

/// A histogram chart.
pub(super) struct Chart<'a> {
    /// The `<svg>` element's id.
    pub(super) id: &'a str,
    /// Its classes.
    pub(super) class: &'a str,
    /// Its title (tooltip and accessible name).
    pub(super) title: &'a str,
    /// What the x axis measures.
    pub(super) x_label: &'a str,
    /// What the bars count.
    pub(super) y_label: &'a str,
    /// The histograms, sharing bin edges.
    pub(super) series: Vec<Series<'a>>,
    /// Lines at values of note.
    pub(super) markers: Vec<Marker>,
    /// Bin edges as text.
    pub(super) fmt_x: fn(f64) -> String,
}

/// Width of the drawing.
const W: f64 = 960.0;
/// Height of the drawing.
const H: f64 = 330.0;
/// Room left of the plot (y ticks, y label).
const LEFT: f64 = 64.0;
/// Room right of the plot.
const RIGHT: f64 = 24.0;
/// Room above the plot (legend, marker labels).
const TOP: f64 = 40.0;
/// Room under the plot (x ticks, x label).
const BOTTOM: f64 = 58.0;
/// Width of the plot.
const PLOT_W: f64 = W - LEFT - RIGHT;
/// Height of the plot.
const PLOT_H: f64 = H - TOP - BOTTOM;
/// The y of the x axis.
const BASE: f64 = TOP + PLOT_H;

/// Where things go in a chart that has data: one slot per bin across,
/// counts up to `y_max`.
struct Plot {
    /// Bins (the most of any series).
    slots: usize,
    /// Width of a slot.
    slot_w: f64,
    /// Gap at each side of a slot's bars.
    pad: f64,
    /// Width of one series' bar in a slot.
    bar_w: f64,
    /// Count between two y ticks.
    step: f64,
    /// Count at the top of the plot.
    y_max: f64,
    /// Each slot's `(lo, hi)` edges.
    edges: Vec<(f64, f64)>,
}

impl Plot {
    /// The layout for the chart's bins; `None` when it has no bars to draw.
    fn new(c: &Chart) -> Option<Self> {
        let slots = c.series.iter().map(|s| s.bins.len()).max().unwrap_or(0);
        let max = c
            .series
            .iter()
            .flat_map(|s| s.bins.iter().map(|b| b.count))
            .max()
            .unwrap_or(0);
        if slots == 0 || max == 0 {
            return None;
        }
        let slot_w = PLOT_W / slots as f64;
        let step = nice_step(max as f64, 4);
        let pad = (slot_w * 0.12).min(6.0);
        Some(Self {
            slots,
            slot_w,
            pad,
            bar_w: (slot_w - 2.0 * pad) / c.series.len().max(1) as f64,
            step,
            y_max: ((max as f64 / step).ceil() * step).max(step),
            edges: slot_edges(&c.series, slots),
        })
    }

    /// The y of a count.
    fn y(&self, count: f64) -> f64 {
        BASE - count / self.y_max * PLOT_H
    }

    /// The counts that get a grid line, from 0 to `y_max`.
    fn ticks(&self) -> Vec<f64> {
        let mut ticks = Vec::new();
        let mut tick = 0.0;
        while tick <= self.y_max + self.step / 2.0 {
            ticks.push(tick);
            tick += self.step;
        }
        ticks
    }
}

/// The chart as an `<svg>` element, or a framed "no data" when it has no
/// bars.
pub(super) fn bar_chart(c: &Chart) -> Markup {
    html! {
        svg id=(Esc(c.id)) class=(c.class) xmlns="http://www.w3.org/2000/svg"
            viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(Esc(c.title)) {
            title { (Esc(c.title)) }
            @match Plot::new(c) {
                Some(p) => (plot(c, &p)),
                None => (no_data()),
            }
        }
    }
}

/// Everything drawn when there are bars.
fn plot(c: &Chart, p: &Plot) -> Markup {
    html! {
        (grid(p))
        (bars(c, p))
        (x_axis(c, p))
        (axis_labels(c))
        (markers(c, p))
        @if c.series.len() > 1 {
            (legend(c))
        }
    }
}

/// A frame with "no data" in the middle.
fn no_data() -> Markup {
    html! {
        rect x="0.5" y="0.5" width=(W - 1.0) height=(H - 1.0) class="frame" {}
        text x=(W / 2.0) y=(H / 2.0) text-anchor="middle" class="nodata" { "no data" }
    }
}

/// Horizontal grid lines with their counts.
fn grid(p: &Plot) -> Markup {
    html! {
        @for tick in p.ticks() {
            @let y = p.y(tick);
            line x1=(LEFT) x2=(W - RIGHT) y1=(f1(y)) y2=(f1(y)) class="grid" {}
            text x=(LEFT - 8.0) y=(f1(y + 4.0)) text-anchor="end" class="tick" {
                (count_label(tick))
            }
        }
    }
}

/// A bar for every non-empty bin of every series.
fn bars(c: &Chart, p: &Plot) -> Markup {
    html! {
        @for i in 0..p.slots {
            @for (k, s) in c.series.iter().enumerate() {
                @if let Some(b) = s.bins.get(i).filter(|b| b.count > 0) {
                    (bar(c, p, (i, k), s, b))
                }
            }
        }
    }
}

/// The bar of series `k` in slot `i`, with its bin in a tooltip and, for
/// a single series of few bins, its count above it.
fn bar(c: &Chart, p: &Plot, (i, k): (usize, usize), s: &Series, b: &Bin) -> Markup {
    let x0 = LEFT + i as f64 * p.slot_w + p.pad;
    let h = (b.count as f64 / p.y_max * PLOT_H).max(1.0);
    let top = BASE - h;
    html! {
        rect class="bar" x=(f1(x0 + k as f64 * p.bar_w)) y=(f1(top))
            width=(f1(p.bar_w.max(0.5))) height=(f1(h)) fill=(s.color) {
            title {
                (Esc(s.name)) ": [" (Esc(&(c.fmt_x)(b.lo))) ", " (Esc(&(c.fmt_x)(b.hi)))
                ") " (b.count)
            }
        }
        @if c.series.len() == 1 && p.slots <= 32 {
            text x=(f1(x0 + p.bar_w / 2.0)) y=(f1(top - 4.0)) text-anchor="middle" class="count" {
                (b.count)
            }
        }
    }
}

/// The x axis, with bin edges at about nine ticks at most.
fn x_axis(c: &Chart, p: &Plot) -> Markup {
    html! {
        line x1=(LEFT) x2=(W - RIGHT) y1=(BASE) y2=(BASE) class="axis" {}
        @for i in (0..=p.slots).step_by(tick_every(p.slots)) {
            (x_tick(c, p, i))
        }
    }
}

/// Every how many slots an x tick goes: a step that ends on the last edge
/// when one is near.
fn tick_every(slots: usize) -> usize {
    let min_every = slots.div_ceil(8).max(1);
    (min_every..=min_every * 2)
        .find(|e| slots.is_multiple_of(*e))
        .unwrap_or(min_every)
}

/// The tick at the left edge of slot `i` (the right edge of the last one
/// when `i` is past it).
fn x_tick(c: &Chart, p: &Plot, i: usize) -> Markup {
    let value = match p.edges.get(i) {
        Some((lo, _)) => *lo,
        None => p.edges.last().map_or(f64::NAN, |(_, hi)| *hi),
    };
    let x = LEFT + i as f64 * p.slot_w;
    html! {
        line x1=(f1(x)) x2=(f1(x)) y1=(BASE) y2=(BASE + 5.0) class="axis" {}
        text x=(f1(x)) y=(BASE + 19.0) text-anchor="middle" class="tick" {
            (Esc(&(c.fmt_x)(value)))
        }
    }
}

/// What each axis measures.
fn axis_labels(c: &Chart) -> Markup {
    html! {
        text x=(LEFT + PLOT_W / 2.0) y=(H - 12.0) text-anchor="middle" class="axis-label" {
            (Esc(c.x_label))
        }
        text transform="rotate(-90)" x=(-(TOP + PLOT_H / 2.0)) y="16" text-anchor="middle"
            class="axis-label" {
            (Esc(c.y_label))
        }
    }
}

/// The markers that fall on the axis, their labels staggered so that close
/// ones stay readable.
fn markers(c: &Chart, p: &Plot) -> Markup {
    html! {
        @for (k, m) in c.markers.iter().enumerate() {
            @if let Some(x) = value_x(m.value, &p.edges, p.slot_w) {
                (marker(m, k, x))
            }
        }
    }
}

/// The `k`th marker, a dashed line at `x` with its label on the side with
/// more room.
fn marker(m: &Marker, k: usize, x: f64) -> Markup {
    let (label_x, anchor) = if x > LEFT + PLOT_W * 0.7 {
        (x - 4.0, "end")
    } else {
        (x + 4.0, "start")
    };
    html! {
        line class="marker" x1=(f1(x)) x2=(f1(x)) y1=(TOP) y2=(BASE) stroke=(m.color)
            stroke-dasharray=(m.dash) {}
        text x=(f1(label_x)) y=(f1(TOP + 12.0 + 13.0 * k as f64)) text-anchor=(anchor)
            class="marker-label" fill=(m.color) {
            (Esc(&m.label))
        }
    }
}

/// A swatch and name per series, and what the dashed lines are.
fn legend(c: &Chart) -> Markup {
    let mut x = LEFT;
    let mut entries = Vec::with_capacity(c.series.len());
    for s in &c.series {
        entries.push((s, x));
        x += 30.0 + 8.0 * s.name.chars().count() as f64;
    }
    html! {
        @for (s, sx) in entries {
            rect x=(f1(sx)) y="14" width="12" height="12" rx="2" fill=(s.color) {}
            text x=(f1(sx + 17.0)) y="24" class="legend" { (Esc(s.name)) }
        }
        @if !c.markers.is_empty() {
            text x=(f1(x)) y="24" class="legend dim" {
                "dashed lines: p50 (short dashes) and p99 (long dashes)"
            }
        }
    }
}

/// The `(lo, hi)` edges of each slot, from the first series that has a
/// bin there.
fn slot_edges(series: &[Series], slots: usize) -> Vec<(f64, f64)> {
    (0..slots)
        .map(|i| {
            series
                .iter()
                .find_map(|s| s.bins.get(i))
                .map_or((f64::NAN, f64::NAN), |b| (b.lo, b.hi))
        })
        .collect()
}

/// Where a value falls on the x axis (interpolated inside its bin).
fn value_x(value: f64, edges: &[(f64, f64)], slot_w: f64) -> Option<f64> {
    if !value.is_finite() || edges.is_empty() {
        return None;
    }
    let last = edges.len() - 1;
    for (i, &(lo, hi)) in edges.iter().enumerate() {
        if i == 0 && value < lo {
            return Some(LEFT);
        }
        if value < hi || (i == last && value <= hi) {
            let frac = if hi > lo {
                ((value - lo) / (hi - lo)).clamp(0.0, 1.0)
            } else {
                0.5
            };
            return Some(LEFT + (i as f64 + frac) * slot_w);
        }
    }
    Some(LEFT + edges.len() as f64 * slot_w)
}

/// A round step (1, 2 or 5 times a power of ten, at least 1) that divides
/// `0..max` into about `target` intervals.
pub(super) fn nice_step(max: f64, target: u32) -> f64 {
    let raw = max / f64::from(target.max(1));
    if !raw.is_finite() || raw <= 1.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}
