//! OIP v2 requests with the binary tensor data extension: any header
//! length over any body decodes or refuses, never panics, and never takes
//! more memory than it counted.
#![no_main]

use bytes::Bytes;
use edgeserve_node::protocol::parse_request;
use edgeserve_node::tensor::TensorData;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose where the JSON header ends.
    let Some((head, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let header_len = usize::from(u16::from_le_bytes(*head)) % (body.len() + 2);
    let body = Bytes::copy_from_slice(body);
    let Ok(parsed) = parse_request(&body, Some(header_len)) else {
        return;
    };
    let memory = parsed.memory();
    if let Ok(request) = parsed.decode() {
        for t in &request.inputs {
            if let TensorData::Strings(s) = &t.data {
                assert!(s.index_memory() <= memory.max(1));
                assert_eq!(s.iter().count(), s.len());
            }
        }
    }
});
