//! PII redaction policy: scrubs e-mail addresses, phone numbers and payment
//! card numbers out of a model's text outputs.
//!
//! Runs after the model. Every BYTES output (or only those named in config
//! key `outputs`) is scanned element by element; matches are replaced with
//! `[EMAIL]`, `[PHONE]` and `[CARD]` (see [`redact`] for what counts as
//! each). An element that is not valid UTF-8 is redacted on its lossy text.
//! Nothing found: the response passes unchanged.

mod redact;

use std::sync::OnceLock;

use edgeserve_guest::{Context, Policy, Reads, Request, Response, Verdict, config};

/// The policy; its compiled patterns live in [`redact`].
struct PiiRedaction;

/// The outputs to scan (config key `outputs`; empty: every BYTES output),
/// read once per instance.
fn only() -> &'static [String] {
    static ONLY: OnceLock<Vec<String>> = OnceLock::new();
    ONLY.get_or_init(|| config::list("outputs"))
}

/// `response` with PII redacted from its BYTES outputs (those named in
/// `only`, or all when `only` is empty); `None` when nothing was found.
fn redact_outputs(response: &Response, only: &[String]) -> Option<Response> {
    let mut redacted: Option<Response> = None;
    for output in response.outputs() {
        if !only.is_empty() && !only.iter().any(|o| o == output.name()) {
            continue;
        }
        let Some(elements) = output.strings() else {
            continue; // numeric outputs hold no text
        };
        let texts: Vec<Option<String>> = elements
            .iter()
            .map(|e| redact::redact(&String::from_utf8_lossy(e)))
            .collect();
        if texts.iter().all(Option::is_none) {
            continue;
        }
        let scrubbed: Vec<Vec<u8>> = texts
            .into_iter()
            .zip(elements)
            .map(|(text, original)| text.map_or_else(|| original.clone(), String::into_bytes))
            .collect();
        let base = redacted.take().unwrap_or_else(|| response.clone());
        redacted = Some(base.strings(output.name(), output.shape().to_vec(), scrubbed));
    }
    redacted
}

impl Policy for PiiRedaction {
    /// It scans the answer only.
    const READS: Reads = Reads::RESPONSE;

    fn on_response(_ctx: &Context, _request: &Request, response: &Response) -> Verdict<Response> {
        match redact_outputs(response, only()) {
            Some(response) => Verdict::Rewrite(response),
            None => Verdict::Allow,
        }
    }
}

edgeserve_guest::export_policy!(PiiRedaction);

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(response: &Response, name: &str) -> Vec<Vec<u8>> {
        response
            .output(name)
            .and_then(|o| o.strings())
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    #[test]
    fn redacts_bytes_outputs_only_when_needed() {
        let response = Response::new()
            .strings(
                "text",
                vec![3],
                vec![&b"mail a@b.io"[..], b"clean", b"\xffcall +44 20 7946 0958"],
            )
            .strings("note", vec![1], vec!["fine"])
            .tensor("score", vec![1], vec![5551234567i64]);
        let redacted = redact_outputs(&response, &[]).expect("redacted");
        assert_eq!(
            texts(&redacted, "text"),
            [
                &b"mail [EMAIL]"[..],
                b"clean",
                "\u{fffd}call [PHONE]".as_bytes()
            ]
        );
        assert_eq!(texts(&redacted, "note"), [b"fine"]);
        assert_eq!(
            redacted.output("text").map(|o| o.shape().to_vec()),
            Some(vec![3])
        );
        assert_eq!(redacted.outputs().count(), 3);

        assert!(redact_outputs(&response, &["note".to_string()]).is_none());
        assert!(redact_outputs(&Response::new().strings("t", vec![1], vec!["ok"]), &[]).is_none());
    }
}
