//! A model built against WIT `edgeserve:ml@0.1.0` (before the `policy`
//! world existed), straight on wit-bindgen. It proves the host still runs
//! such models, and echoes its BYTES input `text` as output `text` so
//! response policies can be tested on text of the client's choosing.

wit_bindgen::generate!({
    path: "wit",
    world: "model",
});

use edgeserve::ml::types::{
    Datatype, Error, ErrorKind, InferenceRequest, InferenceResponse, ModelMetadata, TensorData,
    TensorSpec,
};
use exports::edgeserve::ml::inference::Guest;

/// The model.
struct LegacyEcho;

/// A `text` spec: BYTES, any length.
fn text_spec() -> TensorSpec {
    TensorSpec {
        name: "text".to_string(),
        datatype: Datatype::Bytes,
        shape: vec![-1],
    }
}

/// An `invalid-input` error.
fn invalid(message: &str) -> Error {
    Error {
        kind: ErrorKind::InvalidInput,
        message: message.to_string(),
    }
}

impl Guest for LegacyEcho {
    fn metadata() -> ModelMetadata {
        ModelMetadata {
            name: "legacy-echo".to_string(),
            version: "1".to_string(),
            platform: "rust".to_string(),
            inputs: vec![text_spec()],
            outputs: vec![text_spec()],
        }
    }

    fn predict(request: InferenceRequest) -> Result<InferenceResponse, Error> {
        let Some(text) = request.inputs.into_iter().find(|t| t.name == "text") else {
            return Err(invalid("missing input 'text'"));
        };
        if text.datatype != Datatype::Bytes || !matches!(text.data, TensorData::Strings(_)) {
            return Err(invalid("input 'text' must be BYTES"));
        }
        Ok(InferenceResponse {
            outputs: vec![text],
            parameters: Vec::new(),
        })
    }
}

export!(LegacyEcho);
