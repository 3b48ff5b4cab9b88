//! The OIP codec: decode and encode, JSON and binary, small (1x4) and large
//! (256x1000 FP32) tensors.
//!
//! Run: cargo bench -p edgeserve --bench codec

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edgeserve_oip::protocol::{decode_request, encode_response};
use edgeserve_oip::tensor::{
    DataType, InferenceRequest, InferenceResponse, RequestedOutput, Tensor, TensorData,
};

fn json_request(rows: usize, cols: usize) -> Vec<u8> {
    let data: Vec<String> = (0..rows * cols)
        .map(|i| format!("{}", (i % 97) as f32 * 0.37))
        .collect();
    format!(
        "{{\"inputs\":[{{\"name\":\"x\",\"shape\":[{rows},{cols}],\"datatype\":\"FP32\",\"data\":[{}]}}]}}",
        data.join(",")
    )
    .into_bytes()
}

fn binary_request(rows: usize, cols: usize) -> (Vec<u8>, usize) {
    let header = format!(
        "{{\"inputs\":[{{\"name\":\"x\",\"shape\":[{rows},{cols}],\"datatype\":\"FP32\",\"parameters\":{{\"binary_data_size\":{}}}}}]}}",
        rows * cols * 4
    );
    let mut body = header.clone().into_bytes();
    for i in 0..rows * cols {
        body.extend(((i % 97) as f32 * 0.37).to_le_bytes());
    }
    (body, header.len())
}

fn response(rows: usize, cols: usize) -> InferenceResponse {
    InferenceResponse {
        parameters: vec![],
        outputs: vec![Tensor {
            name: "y".into(),
            datatype: DataType::F32,
            shape: vec![rows as i64, cols as i64],
            data: TensorData::Raw(
                (0..rows * cols)
                    .flat_map(|i| ((i % 97) as f32 * 0.37).to_le_bytes())
                    .collect::<Vec<u8>>()
                    .into(),
            ),
        }],
    }
}

fn bench(c: &mut Criterion) {
    for (size, rows, cols) in [("small 1x4", 1, 4), ("large 256x1000", 256, 1000)] {
        let mut g = c.benchmark_group(format!("codec {size}"));
        g.throughput(Throughput::Elements((rows * cols) as u64));
        let json = bytes::Bytes::from(json_request(rows, cols));
        g.bench_function("decode json", |b| {
            b.iter(|| decode_request(&json, None).expect("decode"))
        });
        let (bin, header) = binary_request(rows, cols);
        let bin = bytes::Bytes::from(bin);
        g.bench_function("decode binary", |b| {
            b.iter(|| decode_request(&bin, Some(header)).expect("decode"))
        });
        let resp = response(rows, cols);
        let json_req = InferenceRequest::default();
        g.bench_function("encode json", |b| {
            b.iter(|| encode_response("m", "1", &json_req, &resp))
        });
        let bin_req = InferenceRequest {
            outputs: vec![RequestedOutput {
                name: "y".into(),
                binary: Some(true),
            }],
            ..Default::default()
        };
        g.bench_function("encode binary", |b| {
            b.iter(|| encode_response("m", "1", &bin_req, &resp))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
