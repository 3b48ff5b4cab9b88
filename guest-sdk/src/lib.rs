//! Write an edgeserve model or policy filter in Rust.
//!
//! A model implements [`Model`] over typed tensors and finishes with
//! [`export_model!`]; a policy implements [`Policy`] and finishes with
//! [`export_policy!`]. The SDK does the WIT bindings, the byte conversion and
//! the shape checks. Build with `cargo build --release --target
//! wasm32-wasip2` and drop the `.wasm` into a model repository.
//!
//! ```no_run
//! use edgeserve_guest::{DataType, Error, Model, ModelInfo, Request, Response, Spec};
//!
//! struct Doubler;
//!
//! impl Model for Doubler {
//!     fn metadata() -> ModelInfo {
//!         ModelInfo::new("doubler", "1")
//!             .input(Spec::new("x", DataType::Fp32, &[-1]))
//!             .output(Spec::new("y", DataType::Fp32, &[-1]))
//!     }
//!     fn predict(req: Request) -> Result<Response, Error> {
//!         let x = req.tensor::<f32>("x")?;
//!         let y: Vec<f32> = x.data.iter().map(|v| v * 2.0).collect();
//!         Ok(Response::new().tensor("y", x.shape.clone(), y))
//!     }
//! }
//!
//! edgeserve_guest::export_model!(Doubler);
//! ```

#[cfg(feature = "allocator")]
#[cfg_attr(
    not(target_family = "wasm"),
    allow(dead_code, reason = "installed on Wasm only; unit-tested on the host")
)]
mod alloc;
mod element;
mod item;
mod policy;
mod request;
mod response;

/// Generated bindings for the `edgeserve:ml` WIT package (model world).
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "model",
        pub_export_macro: true,
        export_macro_name: "__export_model_world",
        default_bindings_module: "edgeserve_guest::bindings",
    });
}

/// Generated bindings for the `policy` world, sharing the `types`
/// interface and the imports of [`bindings`].
#[doc(hidden)]
pub mod policy_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "policy",
        pub_export_macro: true,
        export_macro_name: "__export_policy_world",
        default_bindings_module: "edgeserve_guest::policy_bindings",
        with: {
            "edgeserve:ml/types@0.2.0": crate::bindings::edgeserve::ml::types,
            "edgeserve:ml/logging@0.2.0": crate::bindings::edgeserve::ml::logging,
            "edgeserve:ml/config@0.2.0": crate::bindings::edgeserve::ml::config,
            "edgeserve:ml/artifacts@0.2.0": crate::bindings::edgeserve::ml::artifacts,
        },
    });
}

use std::sync::OnceLock;

/// The SDK's allocator, on single-threaded Wasm (see `src/alloc.rs`).
#[cfg(all(
    feature = "allocator",
    target_family = "wasm",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: alloc::SizeClasses = alloc::SizeClasses::new();

pub use bindings::edgeserve::ml::types::Datatype as DataType;
pub use element::Element;
pub use policy::{AuthMethod, Context, Header, Policy, Reads, Verdict};
pub use request::{ParamValue, Request, Tensor, TensorRef};
pub use response::Response;

use bindings::exports::edgeserve::ml::inference as model_wit;

/// The WIT package version this SDK builds for.
pub const WIT_VERSION: &str = "0.2.0";

/// A model: its metadata and its predict function.
pub trait Model {
    /// Name, version, platform and tensor specs. Called once per instance.
    fn metadata() -> ModelInfo;
    /// Runs one inference. Inputs have already been checked against
    /// [`Model::metadata`]'s specs (names, datatypes, shapes, sizes).
    fn predict(request: Request) -> Result<Response, Error>;
}

/// Declared name, datatype and shape of a tensor; `-1` in a shape means
/// any size.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub datatype: DataType,
    /// Dimensions, `-1` for any.
    pub shape: Vec<i64>,
}

impl Spec {
    /// A spec.
    pub fn new(name: &str, datatype: DataType, shape: &[i64]) -> Spec {
        Spec {
            name: name.to_string(),
            datatype,
            shape: shape.to_vec(),
        }
    }

    fn matches(&self, shape: &[i64]) -> bool {
        self.shape.len() == shape.len()
            && self.shape.iter().zip(shape).all(|(&w, &g)| w < 0 || w == g)
    }
}

/// What a model says about itself.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    /// What the component calls itself (its build's name, e.g. the
    /// crate's). The node serves it under the repository's model name and
    /// shows this beside it (status, load log); it may be empty.
    pub name: String,
    /// The build's version (e.g. the crate's); may be empty.
    pub version: String,
    /// Platform tag; `rust` by default.
    pub platform: String,
    /// Declared inputs (all required).
    pub inputs: Vec<Spec>,
    /// Declared outputs.
    pub outputs: Vec<Spec>,
}

impl ModelInfo {
    /// Metadata with no tensors yet: the build's `name` and `version`
    /// (e.g. `ModelInfo::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))`).
    pub fn new(name: &str, version: &str) -> ModelInfo {
        ModelInfo {
            name: name.to_string(),
            version: version.to_string(),
            platform: "rust".to_string(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Adds an input.
    pub fn input(mut self, spec: Spec) -> Self {
        self.inputs.push(spec);
        self
    }

    /// Adds an output.
    pub fn output(mut self, spec: Spec) -> Self {
        self.outputs.push(spec);
        self
    }

    /// Sets the platform tag.
    pub fn platform(mut self, platform: &str) -> Self {
        self.platform = platform.to_string();
        self
    }
}

/// A model error; the host turns the kind into an HTTP status.
#[derive(Clone, Debug)]
pub struct Error {
    kind: model_wit::ErrorKind,
    message: String,
}

impl Error {
    /// The request is wrong for this model (HTTP 400).
    pub fn invalid_input(message: impl Into<String>) -> Error {
        Error {
            kind: model_wit::ErrorKind::InvalidInput,
            message: message.into(),
        }
    }

    /// The model failed (HTTP 500).
    pub fn internal(message: impl Into<String>) -> Error {
        Error {
            kind: model_wit::ErrorKind::Internal,
            message: message.into(),
        }
    }

    /// The model cannot answer now (HTTP 503).
    pub fn unavailable(message: impl Into<String>) -> Error {
        Error {
            kind: model_wit::ErrorKind::Unavailable,
            message: message.into(),
        }
    }

    /// What went wrong, as the client reads it (a policy can pass it on:
    /// `Verdict::deny(500, e.message())`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Log lines that end up in the host's log, tagged with the model.
pub mod log {
    use crate::bindings::edgeserve::ml::logging::{Level, log};

    /// Logs at debug level.
    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }
    /// Logs at info level.
    pub fn info(message: &str) {
        log(Level::Info, message);
    }
    /// Logs at warn level.
    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }
    /// Logs at error level.
    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// The read-only configuration set in the version's manifest (`[config]`).
pub mod config {
    /// The value of `key`, if set.
    pub fn get(key: &str) -> Option<String> {
        crate::bindings::edgeserve::ml::config::get(key)
    }

    /// The value of `key` parsed as `T`, or `default` when unset.
    pub fn parse_or<T: std::str::FromStr>(key: &str, default: T) -> Result<T, crate::Error> {
        match get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                crate::Error::internal(format!("config value {key}={v:?} cannot be parsed"))
            }),
        }
    }

    /// All keys that are set, sorted.
    pub fn keys() -> Vec<String> {
        crate::bindings::edgeserve::ml::config::keys()
    }

    /// The value of `key` as a comma-separated list (items trimmed, empty
    /// items dropped); empty when unset.
    pub fn list(key: &str) -> Vec<String> {
        get(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Read-only files the version's manifest ships (`[artifacts]`), e.g. an
/// ONNX graph. Each call copies the bytes: read once per instance and keep
/// what you build from them in a `OnceLock`.
pub mod artifacts {
    /// The bytes of artifact `name`, if declared.
    pub fn get(name: &str) -> Option<Vec<u8>> {
        crate::bindings::edgeserve::ml::artifacts::get(name)
    }

    /// The declared artifact names, sorted.
    pub fn names() -> Vec<String> {
        crate::bindings::edgeserve::ml::artifacts::names()
    }
}

#[doc(hidden)]
pub mod __private {
    use super::*;
    pub use crate::policy::{on_request, on_response, policy_metadata};

    fn info<M: Model>() -> &'static ModelInfo {
        static INFO: OnceLock<ModelInfo> = OnceLock::new();
        INFO.get_or_init(M::metadata)
    }

    fn spec_to_wit(s: &Spec) -> model_wit::TensorSpec {
        model_wit::TensorSpec {
            name: s.name.clone(),
            datatype: s.datatype,
            shape: s.shape.clone(),
        }
    }

    pub fn metadata<M: Model>() -> model_wit::ModelMetadata {
        let m = info::<M>();
        model_wit::ModelMetadata {
            name: m.name.clone(),
            version: m.version.clone(),
            platform: m.platform.clone(),
            inputs: m.inputs.iter().map(spec_to_wit).collect(),
            outputs: m.outputs.iter().map(spec_to_wit).collect(),
        }
    }

    pub fn predict<M: Model>(
        req: model_wit::InferenceRequest,
    ) -> Result<model_wit::InferenceResponse, model_wit::Error> {
        let info = info::<M>();
        let to_wit = |e: Error| model_wit::Error {
            kind: e.kind,
            message: e.message,
        };
        let request = request_from_wit(info, req).map_err(to_wit)?;
        let response = M::predict(request).map_err(to_wit)?;
        response_to_wit(info, response).map_err(to_wit)
    }

    /// The SDK's request from the host's: spec indices become names, the
    /// byte buffers typed data, and every declared input is checked.
    fn request_from_wit(
        info: &ModelInfo,
        req: model_wit::InferenceRequest,
    ) -> Result<Request, Error> {
        let mut inputs = Vec::with_capacity(req.inputs.len());
        for t in req.inputs {
            let spec = info
                .inputs
                .get(t.spec as usize)
                .ok_or_else(|| Error::invalid_input(format!("unknown input #{}", t.spec)))?;
            if t.datatype != spec.datatype {
                return Err(Error::invalid_input(format!(
                    "input '{}' must be {:?}, got {:?}",
                    spec.name, spec.datatype, t.datatype
                )));
            }
            if !spec.matches(&t.shape) {
                return Err(Error::invalid_input(format!(
                    "input '{}' has shape {:?}, expected {:?}",
                    spec.name, t.shape, spec.shape
                )));
            }
            let data = item::Data::from_wit(t.datatype, t.data)
                .map_err(|e| Error::invalid_input(format!("input '{}': {e}", spec.name)))?;
            let input = item::Item {
                name: spec.name.clone(),
                datatype: t.datatype,
                shape: t.shape,
                data,
            };
            item::check_size(&input)?;
            inputs.push(input);
        }
        if let Some(missing) = info
            .inputs
            .iter()
            .find(|s| !inputs.iter().any(|i| i.name == s.name))
        {
            return Err(Error::invalid_input(format!(
                "missing input '{}'",
                missing.name
            )));
        }
        let outputs = req
            .outputs
            .unwrap_or_default()
            .into_iter()
            .map(|i| {
                info.outputs
                    .get(i as usize)
                    .map(|s| s.name.clone())
                    .ok_or_else(|| Error::invalid_input(format!("unknown output #{i}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Request::new(
            req.id,
            inputs,
            outputs,
            req.parameters.unwrap_or_default(),
        ))
    }

    /// The host's response from the SDK's: every output must be declared.
    fn response_to_wit(
        info: &ModelInfo,
        response: Response,
    ) -> Result<model_wit::InferenceResponse, Error> {
        let (outputs, parameters) = response.into_parts();
        let outputs = outputs
            .into_iter()
            .map(|t| {
                let spec = info
                    .outputs
                    .iter()
                    .position(|s| s.name == t.name)
                    .and_then(|i| u32::try_from(i).ok())
                    .ok_or_else(|| {
                        Error::internal(format!(
                            "the model answered output '{}', which its metadata does not declare",
                            t.name
                        ))
                    })?;
                Ok(model_wit::Tensor {
                    spec,
                    datatype: t.datatype,
                    shape: t.shape,
                    data: t.data.into_wit(),
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(model_wit::InferenceResponse {
            outputs,
            parameters,
        })
    }
}

/// Exports a type implementing [`Model`] as the component's `inference`
/// interface.
#[macro_export]
macro_rules! export_model {
    ($model:ty) => {
        struct __EdgeserveExport;

        impl $crate::bindings::exports::edgeserve::ml::inference::Guest for __EdgeserveExport {
            fn metadata() -> $crate::bindings::exports::edgeserve::ml::inference::ModelMetadata {
                $crate::__private::metadata::<$model>()
            }

            fn predict(
                request: $crate::bindings::exports::edgeserve::ml::inference::InferenceRequest,
            ) -> ::core::result::Result<
                $crate::bindings::exports::edgeserve::ml::inference::InferenceResponse,
                $crate::bindings::exports::edgeserve::ml::inference::Error,
            > {
                $crate::__private::predict::<$model>(request)
            }
        }

        $crate::bindings::__export_model_world!(__EdgeserveExport with_types_in $crate::bindings);
    };
}

/// Exports a type implementing [`Policy`] as the component's `filter`
/// interface.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        struct __EdgeservePolicyExport;

        impl $crate::policy_bindings::exports::edgeserve::ml::filter::Guest
            for __EdgeservePolicyExport
        {
            fn metadata() -> $crate::policy_bindings::exports::edgeserve::ml::filter::PolicyMetadata {
                // The policy crate's own name and version.
                $crate::__private::policy_metadata::<$policy>(
                    env!("CARGO_PKG_NAME"),
                    env!("CARGO_PKG_VERSION"),
                )
            }

            fn on_request(
                context: $crate::policy_bindings::exports::edgeserve::ml::filter::RequestContext,
                request: ::core::option::Option<
                    $crate::policy_bindings::exports::edgeserve::ml::filter::PolicyRequest,
                >,
            ) -> $crate::policy_bindings::exports::edgeserve::ml::filter::RequestDecision {
                $crate::__private::on_request::<$policy>(context, request)
            }

            fn on_response(
                context: $crate::policy_bindings::exports::edgeserve::ml::filter::RequestContext,
                request: ::core::option::Option<
                    $crate::policy_bindings::exports::edgeserve::ml::filter::PolicyRequest,
                >,
                response: ::core::option::Option<
                    $crate::policy_bindings::exports::edgeserve::ml::filter::PolicyResponse,
                >,
            ) -> $crate::policy_bindings::exports::edgeserve::ml::filter::ResponseDecision {
                $crate::__private::on_response::<$policy>(context, request, response)
            }
        }

        $crate::policy_bindings::__export_policy_world!(
            __EdgeservePolicyExport with_types_in $crate::policy_bindings
        );
    };
}
