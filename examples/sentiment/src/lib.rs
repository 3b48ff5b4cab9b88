//! Sentiment of short English texts: multinomial naive Bayes over a
//! 5,000-word vocabulary trained on Rotten Tomatoes review snippets (see
//! `DATA.md`; weights from `train/train.py`).

mod weights;

use edgeserve_guest::{DataType, Error, Model, ModelInfo, Request, Response, Spec};
use weights::{CLASSES, LOG_LIKELIHOOD, LOG_PRIOR, VOCAB};

struct Sentiment;

/// Tokens shorter than this are dropped (as in training).
const MIN_TOKEN: usize = 2;

/// Lower-cases ASCII letters and yields maximal runs of `[a-z0-9']`.
fn tokens(text: &[u8]) -> Vec<Vec<u8>> {
    let lower: Vec<u8> = text.iter().map(u8::to_ascii_lowercase).collect();
    let is_tok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'\'';
    lower
        .split(|b| !is_tok(b))
        .filter(|t| t.len() >= MIN_TOKEN)
        .map(<[u8]>::to_vec)
        .collect()
}

fn scores(text: &[u8]) -> [f64; 2] {
    let mut logit = [LOG_PRIOR[0] as f64, LOG_PRIOR[1] as f64];
    for tok in tokens(text) {
        if let Ok(i) = VOCAB.binary_search_by(|w| w.as_bytes().cmp(&tok)) {
            logit[0] += LOG_LIKELIHOOD[i][0] as f64;
            logit[1] += LOG_LIKELIHOOD[i][1] as f64;
        }
    }
    let max = logit[0].max(logit[1]);
    let e = [(logit[0] - max).exp(), (logit[1] - max).exp()];
    let sum = e[0] + e[1];
    [e[0] / sum, e[1] / sum]
}

impl Model for Sentiment {
    fn metadata() -> ModelInfo {
        ModelInfo::new("sentiment", "1")
            .input(Spec::new("text", DataType::Bytes, &[-1]))
            .output(Spec::new("scores", DataType::Fp32, &[-1, 2]))
            .output(Spec::new("label", DataType::Bytes, &[-1]))
    }

    fn predict(req: Request) -> Result<Response, Error> {
        let texts = req.bytes("text")?;
        let n = texts.data.len();
        let mut out = Vec::with_capacity(n * 2);
        let mut labels = Vec::with_capacity(n);
        for text in &texts.data {
            let s = scores(text);
            out.extend([s[0] as f32, s[1] as f32]);
            labels.push(CLASSES[if s[1] > s[0] { 1 } else { 0 }]);
        }
        Ok(Response::new()
            .tensor("scores", vec![n as i64, 2], out)
            .strings("label", vec![n as i64], labels))
    }
}

edgeserve_guest::export_model!(Sentiment);
