//! The Open Inference Protocol v2 (KServe v2) REST codec: JSON tensors and
//! the binary tensor data extension, in both directions. Everything past
//! this module sees only [`crate::tensor`] values.

mod decode;
mod encode;
mod validate;
mod wire;

pub use decode::{HEADER_LENGTH, ParsedRequest, decode_binary, decode_request, parse_request};
pub use encode::{
    EncodedResponse, encode_metadata, encode_response, write_binary, write_tensor_json,
};
pub use validate::{check_inputs_fit, check_outputs, check_request, select_outputs};

/// A request that does not follow the protocol or does not fit the model;
/// always the client's fault (HTTP 400).
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The body or header is not valid JSON of the expected shape.
    #[error("malformed request: {0}")]
    Json(String),
    /// A datatype name is not one of the protocol's.
    #[error("input '{input}': unknown datatype '{datatype}'; {}", datatype_hint(.datatype))]
    Datatype {
        /// Input name.
        input: String,
        /// The name given.
        datatype: String,
    },
    /// An input's data does not fit its datatype or shape.
    #[error("input '{input}': {reason}")]
    Input {
        /// Input name.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// The binary section does not add up.
    #[error("binary data: {0}")]
    Binary(String),
    /// The request does not fit the model's declared inputs or outputs.
    #[error("{0}")]
    Mismatch(String),
}

/// What to send instead of an unknown datatype name: the name it was
/// meant to be when only its case is wrong, and the valid names.
fn datatype_hint(given: &str) -> String {
    let names: Vec<&str> = crate::tensor::DataType::ALL
        .iter()
        .map(|d| d.as_str())
        .collect();
    let list = names.join(", ");
    match names.iter().find(|n| n.eq_ignore_ascii_case(given)) {
        Some(n) => format!("did you mean '{n}'? Datatype names are upper case: {list}"),
        None => format!("the datatypes are {list}"),
    }
}
