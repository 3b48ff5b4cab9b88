//! Input guard policy: refuses numeric inputs a model should never see.
//!
//! Runs before the model and denies a request when any numeric input holds
//! NaN or ±infinity, when a value falls outside the input's configured
//! `range.<input>`, or when any input's first dimension (the batch) is above
//! `max_batch`. The configuration is checked once per instance; if any key
//! is malformed or unknown, every request is denied with 500 (fail safe: a
//! typo never switches a check off).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use edgeserve_guest::{Context, DataType, Policy, Reads, Request, Verdict, config, log};

/// The policy; its rules live in [`rules`].
struct InputGuard;

/// Inclusive bounds on an input's values; `None` is unbounded.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Range {
    /// Smallest value allowed.
    min: Option<f64>,
    /// Largest value allowed.
    max: Option<f64>,
}

impl Range {
    /// Whether `v` is within the bounds.
    fn contains(&self, v: f64) -> bool {
        self.min.is_none_or(|min| v >= min) && self.max.is_none_or(|max| v <= max)
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.min {
            Some(min) => write!(f, "[{min}, ")?,
            None => write!(f, "(-inf, ")?,
        }
        match self.max {
            Some(max) => write!(f, "{max}]"),
            None => write!(f, "+inf)"),
        }
    }
}

/// The checks, from the manifest's `[config]`.
#[derive(Debug, PartialEq)]
struct Rules {
    /// HTTP status of a refusal.
    status: u16,
    /// Largest first dimension allowed on any input.
    max_batch: Option<i64>,
    /// Allowed values per input name.
    ranges: BTreeMap<String, Range>,
}

/// A config problem: the reason the client gets, and the detail (with the
/// offending value) that goes to the host's log only.
#[derive(Debug)]
struct BadConfig {
    /// For the client: which key is wrong.
    reason: String,
    /// For the log: the key, its value and what was expected.
    detail: String,
}

impl Rules {
    /// Parses every config entry; the first unusable one is an error.
    fn parse(entries: impl IntoIterator<Item = (String, String)>) -> Result<Rules, BadConfig> {
        let mut rules = Rules {
            status: 400,
            max_batch: None,
            ranges: BTreeMap::new(),
        };
        for (key, value) in entries {
            let bad = |expected: &str| BadConfig {
                reason: format!("input-guard config key '{key}' is malformed"),
                detail: format!("config key '{key}' = {value:?}: expected {expected}"),
            };
            if key == "status" {
                rules.status = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|s| (400..=599).contains(s))
                    .ok_or_else(|| bad("an HTTP status from 400 to 599"))?;
            } else if key == "max_batch" {
                let max = value.trim().parse().ok().filter(|&n: &i64| n >= 1);
                rules.max_batch = Some(max.ok_or_else(|| bad("a positive integer"))?);
            } else if let Some(input) = key.strip_prefix("range.") {
                let range = parse_range(&value)
                    .filter(|_| !input.is_empty())
                    .ok_or_else(|| bad("\"min,max\" with finite numbers, min <= max"))?;
                rules.ranges.insert(input.to_string(), range);
            } else {
                return Err(BadConfig {
                    reason: format!("input-guard config key '{key}' is unknown"),
                    detail: format!(
                        "config key '{key}' is unknown (known: status, max_batch, range.<input>)"
                    ),
                });
            }
        }
        Ok(rules)
    }

    /// Why `request` must be refused, if it must.
    fn check(&self, request: &Request) -> Result<(), String> {
        for input in request.inputs() {
            let name = input.name();
            if let (Some(max), Some(&batch)) = (self.max_batch, input.shape().first())
                && batch > max
            {
                return Err(format!(
                    "input '{name}' has a batch of {batch}, above the limit of {max}"
                ));
            }
            let range = self.ranges.get(name);
            let float = matches!(
                input.datatype(),
                DataType::Fp16 | DataType::Fp32 | DataType::Fp64
            );
            if range.is_none() && !float {
                continue; // integers and booleans are always finite
            }
            let Some(values) = input.numbers() else {
                return Err(format!("input '{name}' must be numeric"));
            };
            for (i, &v) in values.iter().enumerate() {
                if !v.is_finite() {
                    return Err(format!("input '{name}' element {i} is {v}"));
                }
                if let Some(range) = range
                    && !range.contains(v)
                {
                    return Err(format!(
                        "input '{name}' element {i} is {v}, outside {range}"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `"min,max"`, either side empty for unbounded.
fn parse_range(value: &str) -> Option<Range> {
    let bound = |s: &str| -> Option<Option<f64>> {
        let s = s.trim();
        if s.is_empty() {
            return Some(None);
        }
        s.parse::<f64>().ok().filter(|v| v.is_finite()).map(Some)
    };
    let (min, max) = value.split_once(',')?;
    let range = Range {
        min: bound(min)?,
        max: bound(max)?,
    };
    match (range.min, range.max) {
        (Some(min), Some(max)) if min > max => None,
        _ => Some(range),
    }
}

/// The rules, parsed on first use (the configuration never changes during
/// an instance's life). A bad configuration is logged once.
fn rules() -> &'static Result<Rules, BadConfig> {
    static RULES: OnceLock<Result<Rules, BadConfig>> = OnceLock::new();
    RULES.get_or_init(|| {
        let entries = config::keys()
            .into_iter()
            .filter_map(|key| config::get(&key).map(|value| (key, value)));
        let rules = Rules::parse(entries);
        if let Err(bad) = &rules {
            log::error(&format!("input-guard denies everything: {}", bad.detail));
        }
        rules
    })
}

impl Policy for InputGuard {
    /// It checks the request's values, nothing else.
    const READS: Reads = Reads::REQUEST;

    fn on_request(_ctx: &Context, request: &Request) -> Verdict<Request> {
        match rules() {
            Err(bad) => Verdict::deny(500, bad.reason.clone()),
            Ok(rules) => match rules.check(request) {
                Ok(()) => Verdict::Allow,
                Err(reason) => Verdict::deny(rules.status, reason),
            },
        }
    }
}

edgeserve_guest::export_policy!(InputGuard);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(entries: &[(&str, &str)]) -> Result<Rules, BadConfig> {
        Rules::parse(entries.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn ranges_parse() {
        let r = |min, max| Some(Range { min, max });
        assert_eq!(parse_range("0,1"), r(Some(0.0), Some(1.0)));
        assert_eq!(parse_range(" -2.5 , "), r(Some(-2.5), None));
        assert_eq!(parse_range(",10"), r(None, Some(10.0)));
        assert_eq!(parse_range(","), r(None, None));
        for bad in ["", "5", "1,0", "a,1", "0,inf", "NaN,1", "1,2,3"] {
            assert_eq!(parse_range(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn config_is_checked() {
        let rules = parse(&[("status", "422"), ("max_batch", "8"), ("range.x", "0,1")])
            .expect("valid config");
        assert_eq!(rules.status, 422);
        assert_eq!(rules.max_batch, Some(8));
        assert_eq!(rules.ranges.len(), 1);
        for (key, value) in [
            ("status", "200"),
            ("status", "abc"),
            ("max_batch", "0"),
            ("max_batch", "-1"),
            ("range.x", "1"),
            ("range.", "0,1"),
            ("max-batch", "8"),
        ] {
            let err = parse(&[(key, value)]).expect_err(key);
            assert!(err.reason.contains(key), "{}", err.reason);
        }
    }

    #[test]
    fn ranges_are_inclusive() {
        let range = Range {
            min: Some(0.0),
            max: None,
        };
        assert!(range.contains(0.0));
        assert!(range.contains(1e300));
        assert!(!range.contains(-0.1));
        assert_eq!(range.to_string(), "[0, +inf)");
    }
}
