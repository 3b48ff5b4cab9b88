//! Renders OpenTelemetry metrics in the Prometheus text exposition format
//! (version 0.0.4), following the OpenTelemetry-to-Prometheus compatibility
//! rules: dots become underscores, the unit becomes a suffix (`_seconds`),
//! monotonic sums become counters ending in `_total`, histograms become
//! `_bucket` / `_sum` / `_count` series, and the resource is `target_info`.

use std::fmt::Write as _;

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The Prometheus name of a metric: sanitized, with its unit as a suffix.
fn metric_name(m: &Metric) -> String {
    let mut name = sanitize(m.name());
    let suffix = match m.unit() {
        "s" => "_seconds",
        "ms" => "_milliseconds",
        "By" => "_bytes",
        "1" => "_ratio",
        _ => "",
    };
    if !suffix.is_empty() && !name.ends_with(suffix) {
        name.push_str(suffix);
    }
    name
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.as_str().to_string(),
        other => other.to_string(),
    }
}

fn labels<'a>(attrs: impl Iterator<Item = &'a KeyValue>, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = attrs
        .map(|kv| {
            format!(
                "{}=\"{}\"",
                sanitize(kv.key.as_str()),
                escape_label(&value_text(&kv.value))
            )
        })
        .collect();
    parts.sort();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.is_nan() {
        "NaN".into()
    } else {
        v.to_string()
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn write_data<T: Copy>(out: &mut String, m: &Metric, data: &MetricData<T>, f: fn(T) -> f64) {
    let base = metric_name(m);
    match data {
        MetricData::Gauge(g) => {
            header(out, &base, m.description(), "gauge");
            for p in g.data_points() {
                let _ = writeln!(
                    out,
                    "{base}{} {}",
                    labels(p.attributes(), None),
                    number(f(p.value()))
                );
            }
        }
        MetricData::Sum(s) => {
            let (name, kind) = if s.is_monotonic() {
                (format!("{base}_total"), "counter")
            } else {
                (base.clone(), "gauge")
            };
            header(out, &name, m.description(), kind);
            for p in s.data_points() {
                let _ = writeln!(
                    out,
                    "{name}{} {}",
                    labels(p.attributes(), None),
                    number(f(p.value()))
                );
            }
        }
        MetricData::Histogram(h) => {
            header(out, &base, m.description(), "histogram");
            for p in h.data_points() {
                let mut cumulative = 0u64;
                let bounds: Vec<f64> = p.bounds().collect();
                for (i, count) in p.bucket_counts().enumerate() {
                    cumulative += count;
                    let le = bounds
                        .get(i)
                        .map_or_else(|| "+Inf".to_string(), |b| number(*b));
                    let _ = writeln!(
                        out,
                        "{base}_bucket{} {cumulative}",
                        labels(p.attributes(), Some(("le", le)))
                    );
                }
                let l = labels(p.attributes(), None);
                let _ = writeln!(out, "{base}_sum{l} {}", number(f(p.sum())));
                let _ = writeln!(out, "{base}_count{l} {}", p.count());
            }
        }
        MetricData::ExponentialHistogram(_) => {}
    }
}

/// The exposition text of everything collected.
pub fn render(rm: &ResourceMetrics) -> String {
    let mut out = String::new();
    header(&mut out, "target_info", "Target metadata", "gauge");
    let resource: Vec<KeyValue> = rm
        .resource()
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    let _ = writeln!(out, "target_info{} 1", labels(resource.iter(), None));
    for scope in rm.scope_metrics() {
        for m in scope.metrics() {
            match m.data() {
                AggregatedMetrics::F64(d) => write_data(&mut out, m, d, |v| v),
                // Integer points are written through f64; counts above 2^53
                // would lose precision, which no counter here reaches.
                AggregatedMetrics::U64(d) => write_data(&mut out, m, d, |v| v as f64),
                AggregatedMetrics::I64(d) => write_data(&mut out, m, d, |v| v as f64),
            }
        }
    }
    out
}
