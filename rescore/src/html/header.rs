//! The top of the page: the title and verdict, the run's details (log,
//! candidate, models, versions) and the record counts as tiles.

use maud::{Markup, html};

use super::super::report::RescoreReport;
use super::format::{Esc, join_or_dash, plural};
use super::summary::output_identical;

/// The page header: the model name(s), what the page is, and the verdict.
pub(super) fn top(r: &RescoreReport) -> Markup {
    let (verdict_class, verdict) = verdict(r);
    let heading = match r.models.is_empty() {
        true => "Rescore report".to_string(),
        false => join_or_dash(&r.models),
    };
    html! {
        header.top {
            div {
                div.brand { "edgeserve · rescore" }
                h1 { (Esc(&heading)) }
                p.lede {
                    "Logged production traffic replayed through a candidate component, \
                     compared side by side with what was logged."
                }
            }
            div class={ "verdict " (verdict_class) } { (verdict) }
        }
    }
}

/// The run's details: what was replayed against what.
pub(super) fn run(r: &RescoreReport) -> Markup {
    html! {
        section.card #run {
            dl.meta {
                (meta_row("Log", &r.log, true))
                (meta_row("Candidate", &r.candidate, true))
                (meta_row("SHA-256", &r.candidate_sha256, true))
                (meta_row("Models", &join_or_dash(&r.models), false))
                (meta_row("Logged versions", &join_or_dash(&r.logged_versions), false))
            }
        }
    }
}

/// One detail of the run; monospaced for paths and digests.
fn meta_row(key: &str, value: &str, mono: bool) -> Markup {
    let value = if value.is_empty() { "–" } else { value };
    html! {
        dt { (key) }
        dd class=[mono.then_some("mono")] { (Esc(value)) }
    }
}

/// The record counts, one tile each; counts that deserve a look are
/// coloured.
pub(super) fn counts(r: &RescoreReport) -> Markup {
    html! {
        section.tiles #counts {
            (tile("Records read", r.records, ""))
            (tile("Replayed", r.replayed, ""))
            (tile("No inputs (skipped)", r.skipped_without_inputs, warn_if(r.skipped_without_inputs)))
            (tile("Logged errors", r.logged_errors, bad_if(r.logged_errors)))
            (tile("Candidate errors", r.candidate_errors, bad_if(r.candidate_errors)))
            (tile("Torn lines", r.torn_lines, warn_if(r.torn_lines)))
        }
    }
}

/// One count, big, with its name under it.
fn tile(key: &str, value: usize, class: &str) -> Markup {
    html! {
        div class={ "tile " (class) } {
            div.v { (value) }
            div.k { (key) }
        }
    }
}

/// `bad` when there is any.
fn bad_if(n: usize) -> &'static str {
    if n > 0 { "bad" } else { "" }
}

/// `warn` when there is any.
fn warn_if(n: usize) -> &'static str {
    if n > 0 { "warn" } else { "" }
}

/// One line on the whole run: its CSS class and text.
fn verdict(r: &RescoreReport) -> (&'static str, String) {
    if r.replayed == 0 {
        return ("neutral", "Nothing replayed".to_string());
    }
    let differing = r
        .outputs
        .iter()
        .filter(|o| output_identical(o) == Some(false))
        .count();
    if differing == 0 && r.candidate_errors == 0 {
        return (
            "ok",
            format!("Candidate matches all {} replayed records", r.replayed),
        );
    }
    let mut parts = Vec::new();
    if differing > 0 {
        parts.push(format!(
            "{differing} of {} output{} differ{}",
            r.outputs.len(),
            plural(r.outputs.len()),
            if differing == 1 { "s" } else { "" }
        ));
    }
    if r.candidate_errors > 0 {
        parts.push(format!(
            "{} candidate error{}",
            r.candidate_errors,
            plural(r.candidate_errors)
        ));
    }
    ("bad", parts.join(", "))
}
