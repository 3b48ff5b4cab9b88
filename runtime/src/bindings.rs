//! Host bindings for the `edgeserve:ml` WIT package, and conversions between
//! the generated types and [`crate::tensor`].

use crate::tensor::{
    DataType, InferenceRequest, InferenceResponse, ModelMetadata, ParamValue, Parameters, Tensor,
    TensorData, TensorSpec,
};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "model",
    imports: { default: async },
    exports: { default: async },
});

pub(crate) use edgeserve::ml::types as wit;

/// Bindings for the `policy` world; its types and imports are the model
/// world's.
pub(crate) mod policy {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "policy",
        imports: { default: async },
        exports: { default: async },
        with: {
            "edgeserve:ml/types": super::edgeserve::ml::types,
            "edgeserve:ml/logging": super::edgeserve::ml::logging,
            "edgeserve:ml/config": super::edgeserve::ml::config,
            "edgeserve:ml/artifacts": super::edgeserve::ml::artifacts,
        },
    });

    pub(crate) use exports::edgeserve::ml::filter;
}

/// The WIT package version this host implements (the `package` line of
/// `wit/edgeserve.wit`; a unit test keeps them equal).
pub const WIT_VERSION: &str = "0.1.1";
/// The exported interface a model component must provide.
pub const MODEL_EXPORT: &str = "edgeserve:ml/inference@0.1.1";
/// The exported interface a policy component must provide.
pub const POLICY_EXPORT: &str = "edgeserve:ml/filter@0.1.1";
/// Prefix of every interface name of our package, any version.
pub(crate) const PACKAGE_PREFIX: &str = "edgeserve:ml/";

/// Each interface of our package and the version that added it: the WIT's
/// `@since` (unmarked: the first version, 0.1.0). A unit test reads
/// `wit/edgeserve.wit` and checks this table against it.
static INTERFACES: [(&str, semver::Version); 6] = [
    ("types", semver::Version::new(0, 1, 0)),
    ("logging", semver::Version::new(0, 1, 0)),
    ("config", semver::Version::new(0, 1, 0)),
    ("inference", semver::Version::new(0, 1, 0)),
    ("artifacts", semver::Version::new(0, 1, 1)),
    ("filter", semver::Version::new(0, 1, 1)),
];

/// [`WIT_VERSION`] as a version.
const HOST_VERSION: semver::Version = semver::Version::new(0, 1, 1);

/// Whether `name` is `edgeserve:ml/<iface>@<v>` for a version `v` this host
/// runs: in its semver-compatible series (for 0.x, the same minor), no
/// newer than the host, and no older than the version that added `iface`.
pub(crate) fn is_ours(name: &str, iface: &str) -> bool {
    let Some(version) = name
        .strip_prefix(PACKAGE_PREFIX)
        .and_then(|r| r.strip_prefix(iface))
        .and_then(|r| r.strip_prefix('@'))
    else {
        return false;
    };
    let Some((_, since)) = INTERFACES.iter().find(|(n, _)| *n == iface) else {
        return false;
    };
    semver::Version::parse(version).is_ok_and(|v| {
        v.major == HOST_VERSION.major
            && v.minor == HOST_VERSION.minor
            && v.pre.is_empty()
            && since <= &v
            && v <= HOST_VERSION
    })
}

impl From<wit::Datatype> for DataType {
    fn from(d: wit::Datatype) -> Self {
        use wit::Datatype as W;
        match d {
            W::Boolean => DataType::Bool,
            W::Uint8 => DataType::U8,
            W::Uint16 => DataType::U16,
            W::Uint32 => DataType::U32,
            W::Uint64 => DataType::U64,
            W::Int8 => DataType::I8,
            W::Int16 => DataType::I16,
            W::Int32 => DataType::I32,
            W::Int64 => DataType::I64,
            W::Fp16 => DataType::F16,
            W::Fp32 => DataType::F32,
            W::Fp64 => DataType::F64,
            W::Bytes => DataType::Bytes,
        }
    }
}

impl From<DataType> for wit::Datatype {
    fn from(d: DataType) -> Self {
        use wit::Datatype as W;
        match d {
            DataType::Bool => W::Boolean,
            DataType::U8 => W::Uint8,
            DataType::U16 => W::Uint16,
            DataType::U32 => W::Uint32,
            DataType::U64 => W::Uint64,
            DataType::I8 => W::Int8,
            DataType::I16 => W::Int16,
            DataType::I32 => W::Int32,
            DataType::I64 => W::Int64,
            DataType::F16 => W::Fp16,
            DataType::F32 => W::Fp32,
            DataType::F64 => W::Fp64,
            DataType::Bytes => W::Bytes,
        }
    }
}

fn params_to_wit(params: &Parameters) -> Vec<wit::Parameter> {
    params
        .iter()
        .map(|(name, v)| wit::Parameter {
            name: name.clone(),
            value: match v {
                ParamValue::Text(s) => wit::ParamValue::Text(s.clone()),
                ParamValue::Int(i) => wit::ParamValue::Integer(*i),
                ParamValue::Float(f) => wit::ParamValue::Float(*f),
                ParamValue::Bool(b) => wit::ParamValue::Boolean(*b),
            },
        })
        .collect()
}

fn params_from_wit(params: Vec<wit::Parameter>) -> Parameters {
    params
        .into_iter()
        .map(|p| {
            let v = match p.value {
                wit::ParamValue::Text(s) => ParamValue::Text(s),
                wit::ParamValue::Integer(i) => ParamValue::Int(i),
                wit::ParamValue::Float(f) => ParamValue::Float(f),
                wit::ParamValue::Boolean(b) => ParamValue::Bool(b),
            };
            (p.name, v)
        })
        .collect()
}

fn tensor_to_wit(t: Tensor) -> wit::Tensor {
    wit::Tensor {
        name: t.name,
        datatype: t.datatype.into(),
        shape: t.shape,
        data: match t.data {
            // No copy when the buffer is the tensor's alone (JSON-decoded
            // data); a slice of a request body is copied.
            TensorData::Raw(b) => wit::TensorData::Raw(Vec::from(b)),
            TensorData::Strings(s) => {
                wit::TensorData::Strings(s.iter().map(<[u8]>::to_vec).collect())
            }
        },
    }
}

fn tensor_from_wit(t: wit::Tensor) -> Tensor {
    Tensor {
        name: t.name,
        datatype: t.datatype.into(),
        shape: t.shape,
        data: match t.data {
            wit::TensorData::Raw(b) => TensorData::Raw(b.into()),
            wit::TensorData::Strings(s) => TensorData::Strings(s.iter().collect()),
        },
    }
}

/// Builds the WIT request, moving the tensors (no copy of their data).
pub(crate) fn request_to_wit(id: String, req: &mut InferenceRequest) -> wit::InferenceRequest {
    wit::InferenceRequest {
        id,
        inputs: std::mem::take(&mut req.inputs)
            .into_iter()
            .map(tensor_to_wit)
            .collect(),
        outputs: req.outputs.iter().map(|o| o.name.clone()).collect(),
        parameters: params_to_wit(&req.parameters),
    }
}

fn tensor_bytes(t: &wit::Tensor) -> usize {
    match &t.data {
        wit::TensorData::Raw(b) => b.len(),
        wit::TensorData::Strings(s) => s.iter().map(|e| e.len() + 8).sum(),
    }
}

/// Bytes of tensor data in a WIT request.
pub fn request_bytes(r: &wit::InferenceRequest) -> usize {
    r.inputs.iter().map(tensor_bytes).sum()
}

/// Bytes of tensor data in a WIT response.
pub fn response_bytes(r: &wit::InferenceResponse) -> usize {
    r.outputs.iter().map(tensor_bytes).sum()
}

/// The WIT form of a response (copies it: policies see it, the host keeps it).
pub fn response_to_wit(r: &InferenceResponse) -> wit::InferenceResponse {
    wit::InferenceResponse {
        outputs: r.outputs.iter().cloned().map(tensor_to_wit).collect(),
        parameters: params_to_wit(&r.parameters),
    }
}

/// The WIT form of a request, copying its tensors.
pub fn request_copy_to_wit(id: &str, req: &InferenceRequest) -> wit::InferenceRequest {
    wit::InferenceRequest {
        id: id.to_string(),
        inputs: req.inputs.iter().cloned().map(tensor_to_wit).collect(),
        outputs: req.outputs.iter().map(|o| o.name.clone()).collect(),
        parameters: params_to_wit(&req.parameters),
    }
}

/// Replaces `req`'s inputs, outputs and parameters with a policy's rewrite;
/// the id stays the host's, and a requested output keeps its binary flag.
pub fn apply_request_rewrite(req: &mut InferenceRequest, new: wit::InferenceRequest) {
    req.inputs = new.inputs.into_iter().map(tensor_from_wit).collect();
    req.parameters = params_from_wit(new.parameters);
    let old = std::mem::take(&mut req.outputs);
    req.outputs = new
        .outputs
        .into_iter()
        .map(|name| match old.iter().find(|o| o.name == name) {
            Some(o) => o.clone(),
            None => crate::tensor::RequestedOutput { name, binary: None },
        })
        .collect();
}

/// The host form of a policy's rewritten response.
pub fn response_from_wit(r: wit::InferenceResponse) -> InferenceResponse {
    InferenceResponse {
        parameters: params_from_wit(r.parameters),
        outputs: r.outputs.into_iter().map(tensor_from_wit).collect(),
    }
}

fn spec_from_wit(s: wit::TensorSpec) -> TensorSpec {
    TensorSpec {
        name: s.name,
        datatype: s.datatype.into(),
        shape: s.shape,
    }
}

pub(crate) fn metadata_from_wit(m: wit::ModelMetadata) -> ModelMetadata {
    ModelMetadata {
        name: m.name,
        version: m.version,
        platform: m.platform,
        inputs: m.inputs.into_iter().map(spec_from_wit).collect(),
        outputs: m.outputs.into_iter().map(spec_from_wit).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version table and constants agree with `wit/edgeserve.wit`:
    /// its package version, and each interface's `@since`.
    #[test]
    fn versions_follow_the_wit_since_annotations() {
        let mut resolve = wit_parser::Resolve::default();
        let pkg = resolve
            .push_str("edgeserve.wit", include_str!("../../wit/edgeserve.wit"))
            .unwrap();
        let package = &resolve.packages[pkg];
        assert_eq!(package.name.version, Some(HOST_VERSION));
        assert_eq!(WIT_VERSION, HOST_VERSION.to_string());
        assert_eq!(
            MODEL_EXPORT,
            format!("edgeserve:ml/inference@{WIT_VERSION}")
        );
        assert_eq!(POLICY_EXPORT, format!("edgeserve:ml/filter@{WIT_VERSION}"));
        let mut declared: Vec<(String, semver::Version)> = package
            .interfaces
            .iter()
            .map(|(name, id)| {
                let since = match &resolve.interfaces[*id].stability {
                    wit_parser::Stability::Stable { since, .. } => since.clone(),
                    _ => semver::Version::new(0, 1, 0),
                };
                (name.clone(), since)
            })
            .collect();
        declared.sort();
        let mut table: Vec<(String, semver::Version)> = INTERFACES
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        table.sort();
        assert_eq!(declared, table);
    }

    #[test]
    fn is_ours_takes_only_versions_this_host_runs() {
        for (name, iface, ours) in [
            ("edgeserve:ml/inference@0.1.0", "inference", true),
            ("edgeserve:ml/inference@0.1.1", "inference", true),
            ("edgeserve:ml/inference@0.1.2", "inference", false),
            ("edgeserve:ml/inference@0.2.0", "inference", false),
            ("edgeserve:ml/inference@1.1.0", "inference", false),
            ("edgeserve:ml/inference@0.1.1-rc.1", "inference", false),
            ("edgeserve:ml/inference", "inference", false),
            ("edgeserve:ml/inference@x", "inference", false),
            ("edgeserve:ml/inferencex@0.1.0", "inference", false),
            ("other:ml/inference@0.1.0", "inference", false),
            // Added in 0.1.1: a 0.1.0 component cannot have it.
            ("edgeserve:ml/artifacts@0.1.0", "artifacts", false),
            ("edgeserve:ml/artifacts@0.1.1", "artifacts", true),
            ("edgeserve:ml/filter@0.1.1", "filter", true),
            ("edgeserve:ml/unknown@0.1.1", "unknown", false),
        ] {
            assert_eq!(is_ours(name, iface), ours, "{name}");
        }
    }
}
