//! Iris classifier: multinomial logistic regression trained on the Iris data
//! set (see `DATA.md`; weights from `train/train.py`).

mod weights;

use edgeserve_guest::{DataType, Error, Model, ModelInfo, Request, Response, Spec};
use weights::{CLASSES, COEF, FEATURES, INTERCEPT};

struct Iris;

/// Softmax over the class logits of one row, in f32 as trained.
fn probabilities(x: &[f32]) -> [f32; 3] {
    let mut logits = [0f32; 3];
    for (c, logit) in logits.iter_mut().enumerate() {
        *logit = INTERCEPT[c] + COEF[c].iter().zip(x).map(|(w, v)| w * v).sum::<f32>();
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp = logits.map(|l| (l - max).exp());
    let sum: f32 = exp.iter().sum();
    exp.map(|e| e / sum)
}

impl Model for Iris {
    fn metadata() -> ModelInfo {
        ModelInfo::new("iris", "1")
            .input(Spec::new("input", DataType::Fp32, &[-1, 4]))
            .output(Spec::new("probabilities", DataType::Fp32, &[-1, 3]))
            .output(Spec::new("label", DataType::Bytes, &[-1]))
    }

    fn predict(req: Request) -> Result<Response, Error> {
        let x = req.tensor::<f32>("input")?;
        let batch = x.batch();
        let mut probs = Vec::with_capacity(batch * 3);
        let mut labels = Vec::with_capacity(batch);
        for row in x.rows() {
            if row.iter().any(|v| !v.is_finite()) {
                return Err(Error::invalid_input(format!(
                    "input holds NaN or infinity (columns: {})",
                    FEATURES.join(", ")
                )));
            }
            let p = probabilities(row);
            let best = (0..3).fold(0, |b, c| if p[c] > p[b] { c } else { b });
            probs.extend_from_slice(&p);
            labels.push(CLASSES[best]);
        }
        let n = batch as i64;
        let mut resp = Response::new();
        if req.wants("probabilities") {
            resp = resp.tensor("probabilities", vec![n, 3], probs);
        }
        if req.wants("label") {
            resp = resp.strings("label", vec![n], labels);
        }
        Ok(resp)
    }
}

edgeserve_guest::export_model!(Iris);
