//! Response shaper policy: trims score matrices to the top classes.
//!
//! Runs after the model. Each output named in config key `outputs` (default
//! `probabilities`) that is FP32 or FP64 with shape `[B, C]` is replaced by
//! its `top_k` largest scores per row, sorted descending and rounded to
//! `decimals` places (same datatype, shape `[B, k]`), and a BYTES output
//! `<output>_classes` (`[B, k]`) names the class of each score. Returning
//! fewer, coarser scores leaks less about the model to whoever queries it.

use std::ops::RangeInclusive;
use std::str::FromStr;
use std::sync::OnceLock;

use edgeserve_guest::{
    Context, DataType, Policy, Reads, Request, Response, TensorRef, Verdict, config, log,
};

/// The policy; its settings live in [`settings`].
struct ResponseShaper;

/// Settings from the manifest's `[config]`.
#[derive(Debug)]
struct Settings {
    /// Outputs to shape.
    outputs: Vec<String>,
    /// Scores kept per row (at most `C`).
    top_k: usize,
    /// Decimal places kept.
    decimals: i32,
    /// Class names by index; used only when there is one per column.
    class_names: Vec<String>,
}

/// `key` parsed as a number within `allowed`, or `default` when unset.
fn setting<T: FromStr + PartialOrd>(
    key: &str,
    default: T,
    allowed: RangeInclusive<T>,
) -> Result<T, String> {
    match config::get(key) {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse()
            .ok()
            .filter(|n| allowed.contains(n))
            .ok_or_else(|| format!("response-shaper config key '{key}' is malformed")),
    }
}

/// The settings, read once per instance; a malformed one is an error.
fn settings() -> &'static Result<Settings, String> {
    static SETTINGS: OnceLock<Result<Settings, String>> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        let mut outputs = config::list("outputs");
        if outputs.is_empty() {
            outputs.push("probabilities".to_string());
        }
        Ok(Settings {
            outputs,
            top_k: setting("top_k", 3, 1..=usize::MAX)?,
            decimals: setting("decimals", 3, 0..=15)?,
            class_names: config::list("class_names"),
        })
    })
}

/// `v` rounded to `decimals` places (left as is when too large to scale).
fn round(v: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    let scaled = (v * scale).round();
    if scaled.is_finite() {
        scaled / scale
    } else {
        v
    }
}

/// The `k` best columns of each row of a row-major `[rows, columns]`
/// matrix: (scores, column indices), both `[rows, k]`. NaN ranks last; ties
/// keep the lower index first.
fn top_k(values: &[f64], columns: usize, k: usize) -> (Vec<f64>, Vec<usize>) {
    let mut scores = Vec::new();
    let mut indices = Vec::new();
    if columns == 0 {
        return (scores, indices);
    }
    let rank = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
    for row in values.chunks(columns) {
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&a, &b| rank(row[b]).total_cmp(&rank(row[a])));
        order.truncate(k);
        scores.extend(order.iter().map(|&c| row[c]));
        indices.extend(order);
    }
    (scores, indices)
}

/// `[B, C]` of a score matrix whose data fits its shape.
fn matrix_shape(output: &TensorRef<'_>) -> Option<(usize, usize)> {
    let &[b, c] = output.shape() else {
        return None;
    };
    let (b, c) = (usize::try_from(b).ok()?, usize::try_from(c).ok()?);
    (b.checked_mul(c)? == output.len()).then_some((b, c))
}

/// `response` with every configured output shaped (`None` if none was);
/// outputs present but not shapeable are left as they are and named in
/// `skipped`.
fn shape<'a>(
    settings: &'a Settings,
    response: &Response,
    skipped: &mut Vec<&'a str>,
) -> Option<Response> {
    let mut shaped: Option<Response> = None;
    for name in &settings.outputs {
        let Some(output) = response.output(name) else {
            continue;
        };
        let datatype = output.datatype();
        let (Some((rows, columns)), Some(values), DataType::Fp32 | DataType::Fp64) =
            (matrix_shape(&output), output.numbers(), datatype)
        else {
            skipped.push(name);
            continue;
        };
        let k = settings.top_k.min(columns);
        let (scores, indices) = top_k(&values, columns, k);
        let scores = scores.into_iter().map(|v| round(v, settings.decimals));
        let named = settings.class_names.len() == columns;
        let classes: Vec<String> = indices
            .into_iter()
            .map(|c| match settings.class_names.get(c) {
                Some(class) if named => class.clone(),
                _ => c.to_string(),
            })
            .collect();
        let out_shape = vec![rows as i64, k as i64];
        let mut next = shaped.take().unwrap_or_else(|| response.clone());
        next = match datatype {
            DataType::Fp32 => {
                next.tensor(name, out_shape.clone(), scores.map(|v| v as f32).collect())
            }
            _ => next.tensor(name, out_shape.clone(), scores.collect::<Vec<f64>>()),
        };
        shaped = Some(next.strings(&format!("{name}_classes"), out_shape, classes));
    }
    shaped
}

impl Policy for ResponseShaper {
    /// It reshapes the answer only.
    const READS: Reads = Reads::RESPONSE;

    fn on_response(_ctx: &Context, _request: &Request, response: &Response) -> Verdict<Response> {
        match settings() {
            Err(reason) => Verdict::deny(500, reason.clone()),
            Ok(settings) => {
                let mut skipped = Vec::new();
                let shaped = shape(settings, response, &mut skipped);
                for name in skipped {
                    log::warn(&format!(
                        "output '{name}' is not an FP32/FP64 [B, C] matrix; left as is"
                    ));
                }
                shaped.map_or(Verdict::Allow, Verdict::Rewrite)
            }
        }
    }
}

edgeserve_guest::export_policy!(ResponseShaper);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_best_per_row() {
        let values = [0.1, 0.7, 0.2, 0.5, 0.5, f64::NAN];
        let (scores, indices) = top_k(&values, 3, 2);
        assert_eq!(scores, [0.7, 0.2, 0.5, 0.5]);
        assert_eq!(indices, [1, 2, 0, 1]);
        assert_eq!(top_k(&[], 0, 3), (vec![], vec![]));
    }

    #[test]
    fn rounds() {
        assert_eq!(round(0.123456, 3), 0.123);
        assert_eq!(round(0.9996, 3), 1.0);
        assert_eq!(round(0.5, 0), 1.0);
        assert_eq!(round(1e300, 15), 1e300);
    }

    #[test]
    fn shapes_a_response() {
        let settings = Settings {
            outputs: vec!["probabilities".into(), "absent".into()],
            top_k: 5,
            decimals: 2,
            class_names: vec!["a".into(), "b".into(), "c".into()],
        };
        let response = Response::new()
            .tensor(
                "probabilities",
                vec![2, 3],
                vec![0.2f32, 0.301, 0.499, 0.9, 0.05, 0.05],
            )
            .strings("label", vec![2], vec!["c", "a"]);
        let shaped = shape(&settings, &response, &mut Vec::new()).expect("shaped");
        let p = shaped.output("probabilities").expect("probabilities");
        assert_eq!(p.shape(), [2, 3]);
        assert_eq!(
            p.typed::<f32>().expect("fp32").data,
            [0.5, 0.3, 0.2, 0.9, 0.05, 0.05]
        );
        let classes = shaped.output("probabilities_classes").expect("classes");
        assert_eq!(classes.shape(), [2, 3]);
        let names: Vec<&[u8]> = classes
            .strings()
            .expect("bytes")
            .iter()
            .map(Vec::as_slice)
            .collect();
        assert_eq!(names, [b"c", b"b", b"a", b"a", b"b", b"c"]);
        assert!(shaped.output("label").is_some());
    }

    #[test]
    fn leaves_other_outputs_alone() {
        let settings = Settings {
            outputs: vec!["probabilities".into()],
            top_k: 1,
            decimals: 3,
            class_names: vec![],
        };
        let wrong_rank = Response::new().tensor("probabilities", vec![3], vec![0.1f32, 0.2, 0.7]);
        let mut skipped = Vec::new();
        assert!(shape(&settings, &wrong_rank, &mut skipped).is_none());
        assert_eq!(skipped, ["probabilities"]);
        let fp64 = Response::new().tensor("probabilities", vec![1, 3], vec![0.1f64, 0.2, 0.7]);
        let shaped = shape(&settings, &fp64, &mut Vec::new()).expect("shaped");
        assert_eq!(
            shaped
                .output("probabilities")
                .and_then(|p| p.typed::<f64>())
                .map(|t| t.data),
            Some(vec![0.7])
        );
        let classes = shaped
            .output("probabilities_classes")
            .and_then(|c| c.strings())
            .map(<[_]>::to_vec);
        assert_eq!(classes, Some(vec![b"2".to_vec()]));
    }
}
