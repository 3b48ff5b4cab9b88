//! OIP v2 JSON infer requests: decoding never panics, the memory worked
//! out before decoding bounds what decoding builds, and a decoded request
//! encodes back without panicking.
#![no_main]

use bytes::Bytes;
use edgeserve_node::protocol::{encode_response, parse_request};
use edgeserve_node::tensor::{InferenceResponse, TensorData};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    let Ok(parsed) = parse_request(&body, None) else {
        return;
    };
    let memory = parsed.memory();
    let Ok(request) = parsed.decode() else {
        return;
    };
    // What decoding built is within what was counted before it.
    let built: usize = request
        .inputs
        .iter()
        .map(|t| match &t.data {
            TensorData::Raw(b) => b.len(),
            TensorData::Strings(s) => s.total_bytes(),
        })
        .sum();
    assert!(
        built <= memory.max(1),
        "decoded {built} bytes, counted {memory}"
    );
    let response = InferenceResponse {
        parameters: request.parameters.clone(),
        outputs: request.inputs.clone(),
    };
    let _ = encode_response("m", "1", &request, &response);
});
