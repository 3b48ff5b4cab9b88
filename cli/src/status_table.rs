//! `edgeserve status` as a table an operator reads at 3 a.m.: per model its
//! traffic (primary, canary with its share, shadow, what rollback goes
//! back to), per version every answer it gave (model calls, 4xx refusals,
//! 5xx errors), shadow agreement, drift, or a policy's decisions, and the
//! model's recent events with their time. `--json` has every field.

use std::time::{SystemTime, UNIX_EPOCH};

use edgeserve_node::contract::{Event, ModelStatus, NodeStatus, VersionStatus};

/// Events shown per model.
const EVENTS: usize = 5;

/// Every model, each with its own events.
pub(crate) fn print_node(status: &NodeStatus) {
    if status.models.is_empty() {
        println!("no models are loaded (deploy one: edgeserve deploy --help)");
    }
    for (i, m) in status.models.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print_model(m, &status.events);
    }
    if let Some(log) = &status.prediction_log {
        println!();
        println!(
            "prediction log: {} written, {} dropped, {} truncated ({})",
            log.written, log.dropped, log.truncated, log.dir
        );
    }
    if let Some(fleet) = &status.fleet {
        println!();
        println!(
            "fleet: ring {}, {}",
            fleet.ring.as_deref().unwrap_or("-"),
            if fleet.signatures_required {
                "only signed versions"
            } else {
                "signatures not required (no trust_keys)"
            }
        );
        for f in &fleet.follows {
            let digest: String = f
                .digest
                .as_deref()
                .map(|d| d.trim_start_matches("sha256:").chars().take(12).collect())
                .unwrap_or_else(|| "-".into());
            let version = f.version.map_or("-".into(), |v| v.to_string());
            println!(
                "  {} <- {} ({}): version {version} ({digest}), {}{}",
                f.model,
                f.reference,
                f.action,
                f.state,
                f.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
    }
}

/// One model: its traffic line, its versions, its recent events.
pub(crate) fn print_model(m: &ModelStatus, events: &[Event]) {
    let policy = m.versions.iter().any(|v| v.kind == "policy");
    let mut traffic = vec![format!(
        "primary {}{}",
        m.primary.as_deref().unwrap_or("-"),
        if m.primary_pinned { "" } else { " (highest)" }
    )];
    if let Some(c) = &m.canary {
        traffic.push(format!("canary {} at {}%", c.version, c.weight));
    }
    if let Some(s) = &m.shadow {
        traffic.push(format!("shadow {s}"));
    }
    if let Some(back) = m.previous.last() {
        traffic.push(format!("rollback goes to {back}"));
    }
    let kind = if policy { " (policy)" } else { "" };
    println!("{}{kind}  {}", m.name, traffic.join(", "));
    let rows: Vec<Vec<String>> = m
        .versions
        .iter()
        .map(|v| row(v, policy, m.shadow.as_deref() == Some(&v.version)))
        .collect();
    let header: &[&str] = if policy {
        &[
            "VERSION",
            "ROLE",
            "CALLS",
            "ALLOWED",
            "DENIED",
            "REWROTE",
            "FAILED",
            "COMPONENT",
            "SHA256",
            "SOURCE",
        ]
    } else {
        &[
            "VERSION",
            "ROLE",
            "CALLS",
            "4XX",
            "5XX",
            "SHADOW",
            "DRIFT",
            "COMPONENT",
            "SHA256",
            "SOURCE",
        ]
    };
    print_rows(header, &rows);
    let mine: Vec<&Event> = events.iter().filter(|e| e.model == m.name).collect();
    if !mine.is_empty() {
        println!("  recent events:");
        let now = now_secs();
        for e in &mine[mine.len().saturating_sub(EVENTS)..] {
            println!("    {}  {}", when(e.time, now), e.message);
        }
    }
}

/// One version's cells.
fn row(v: &VersionStatus, policy: bool, shadow: bool) -> Vec<String> {
    let mut cells = vec![
        v.version.clone(),
        v.role.as_str().to_string(),
        v.requests.to_string(),
    ];
    if let (true, Some(d)) = (policy, &v.policy_decisions) {
        cells.extend([d.allowed, d.denied, d.rewrote, d.failed].map(|n| n.to_string()));
    } else {
        cells.push(v.refused.to_string());
        cells.push(v.errors.to_string());
        cells.push(shadow_cell(v, shadow));
        cells.push(drift_cell(v));
    }
    cells.push(v.component.clone().unwrap_or_else(|| "-".into()));
    cells.push(v.sha256.get(..12).unwrap_or(&v.sha256).to_string());
    cells.push(v.source.clone());
    cells
}

/// How far a shadow agrees with the primary: the share of equal labels (or
/// of agreeing answers), over how many comparisons, and its failures.
fn shadow_cell(v: &VersionStatus, shadow: bool) -> String {
    if v.shadow_compared == 0 {
        return if shadow {
            "no calls yet".into()
        } else {
            "-".into()
        };
    }
    let share = v
        .shadow_label_agreement
        .unwrap_or(v.shadow_agreed as f64 / v.shadow_compared as f64);
    let mut cell = format!("{:.1}% of {}", share * 100.0, v.shadow_compared);
    if v.shadow_errors > 0 {
        cell.push_str(&format!(", {} failed", v.shadow_errors));
    }
    if v.shadow_dropped > 0 {
        cell.push_str(&format!(", {} dropped", v.shadow_dropped));
    }
    cell
}

/// The largest feature drift (PSI) and its feature, once there are rows.
fn drift_cell(v: &VersionStatus) -> String {
    let Some(d) = &v.drift else {
        return "-".into();
    };
    d.features
        .iter()
        .filter_map(|f| f.psi.map(|p| (p, &f.name)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map_or_else(
            || "waiting for rows".into(),
            |(psi, name)| format!("PSI {psi:.2} ({name})"),
        )
}

/// Left-aligned columns, each as wide as its widest cell.
fn print_rows(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("  {}", text.join("  ").trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `2026-12-03 14:02:11 UTC (5m ago)`.
fn when(time: u64, now: u64) -> String {
    let ago = now.saturating_sub(time);
    let ago = match ago {
        0..60 => format!("{ago}s ago"),
        60..3600 => format!("{}m ago", ago / 60),
        3600..86_400 => format!("{}h{:02}m ago", ago / 3600, ago % 3600 / 60),
        _ => format!("{}d ago", ago / 86_400),
    };
    format!("{} UTC ({ago})", utc(time))
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS` in UTC (the civil-from-days
/// algorithm, so no time-zone database is needed).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_and_ages() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_796_300_531), "2026-12-03 12:22:11");
        assert_eq!(when(100, 130), "1970-01-01 00:01:40 UTC (30s ago)");
        assert_eq!(when(0, 7_500), "1970-01-01 00:00:00 UTC (2h05m ago)");
    }
}
