//! Host bindings for the `edgeserve:ml` WIT package: the current version
//! ([`v2`], `wit/edgeserve.wit`) and the one before it ([`v1`],
//! `wit/legacy/0.1.1`), which the host still runs; the version table that
//! says which component names are ours; and the conversions both share.

pub(crate) mod v1;
pub(crate) mod v2;

/// The WIT package version this host implements (the `package` line of
/// `wit/edgeserve.wit`; a unit test keeps them equal).
pub const WIT_VERSION: &str = "0.2.0";
/// The exported interface a model component must provide.
pub const MODEL_EXPORT: &str = "edgeserve:ml/inference@0.2.0";
/// The exported interface a policy component must provide.
pub const POLICY_EXPORT: &str = "edgeserve:ml/filter@0.2.0";
/// Every WIT version this host runs, for messages.
pub const WIT_VERSIONS_RUN: &str = "0.1.0, 0.1.1 and 0.2.0";
/// Prefix of every interface name of our package, any version.
pub(crate) const PACKAGE_PREFIX: &str = "edgeserve:ml/";

/// Which series of the WIT package a component was built for: the host
/// calls it through that series' bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abi {
    /// `edgeserve:ml@0.1.x` (0.1.0 and 0.1.1): one call per tensor field.
    V1,
    /// `edgeserve:ml@0.2.x`: tensors as byte buffers, policies read what
    /// they declare.
    V2,
}

impl Abi {
    /// The newest version of the series this host implements.
    pub fn version(self) -> &'static str {
        match self {
            Abi::V1 => "0.1.1",
            Abi::V2 => "0.2.0",
        }
    }

    /// The series of an exported interface name of ours, if this host runs it.
    pub(crate) fn of_export(name: &str, iface: &str) -> Option<Abi> {
        let version = version_of(name, iface)?;
        let series = SERIES
            .iter()
            .find(|(_, newest)| same_series(&version, newest))?;
        is_ours(name, iface).then_some(series.0)
    }
}

/// Each series this host runs and the newest version of it it implements.
static SERIES: [(Abi, semver::Version); 2] = [
    (Abi::V1, semver::Version::new(0, 1, 1)),
    (Abi::V2, semver::Version::new(0, 2, 0)),
];

/// Each interface of our package and the version that added it, per
/// series: the WIT's `@since` (unmarked: the series' first version). A unit
/// test reads both WIT files and checks this table against them.
static INTERFACES: [(&str, semver::Version); 12] = [
    ("types", semver::Version::new(0, 1, 0)),
    ("logging", semver::Version::new(0, 1, 0)),
    ("config", semver::Version::new(0, 1, 0)),
    ("inference", semver::Version::new(0, 1, 0)),
    ("artifacts", semver::Version::new(0, 1, 1)),
    ("filter", semver::Version::new(0, 1, 1)),
    ("types", semver::Version::new(0, 2, 0)),
    ("logging", semver::Version::new(0, 2, 0)),
    ("config", semver::Version::new(0, 2, 0)),
    ("inference", semver::Version::new(0, 2, 0)),
    ("artifacts", semver::Version::new(0, 2, 0)),
    ("filter", semver::Version::new(0, 2, 0)),
];

/// For 0.x versions, semver compatibility means the same minor.
fn same_series(a: &semver::Version, b: &semver::Version) -> bool {
    a.major == b.major && (a.major > 0 || a.minor == b.minor)
}

/// The version in `edgeserve:ml/<iface>@<v>`.
fn version_of(name: &str, iface: &str) -> Option<semver::Version> {
    let version = name
        .strip_prefix(PACKAGE_PREFIX)?
        .strip_prefix(iface)?
        .strip_prefix('@')?;
    semver::Version::parse(version).ok()
}

/// Whether `name` is `edgeserve:ml/<iface>@<v>` for a version `v` this host
/// runs: in one of its semver series, no newer than the host's version of
/// that series, and no older than the version that added `iface` to it.
pub(crate) fn is_ours(name: &str, iface: &str) -> bool {
    let Some(v) = version_of(name, iface) else {
        return false;
    };
    let Some((_, newest)) = SERIES.iter().find(|(_, newest)| same_series(&v, newest)) else {
        return false;
    };
    v.pre.is_empty()
        && v <= *newest
        && INTERFACES
            .iter()
            .any(|(n, since)| *n == iface && same_series(since, newest) && *since <= v)
}

/// Conversions between one series' datatype and the host's (the same
/// enum in every series).
macro_rules! datatype_conversions {
    ($($wit:tt)+) => {
        use $($wit)+ as datatype_wit;

        impl From<datatype_wit::Datatype> for crate::tensor::DataType {
            fn from(d: datatype_wit::Datatype) -> Self {
                use crate::tensor::DataType;
                use datatype_wit::Datatype as W;
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

        impl From<crate::tensor::DataType> for datatype_wit::Datatype {
            fn from(d: crate::tensor::DataType) -> Self {
                use crate::tensor::DataType;
                use datatype_wit::Datatype as W;
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
    };
}

/// Conversions of what a model says about itself and how it fails, the
/// same records in every series (given the module that defines them).
macro_rules! model_conversions {
    ($($wit:tt)+) => {
        use $($wit)+ as model_wit;

        fn spec_from_wit(s: model_wit::TensorSpec) -> crate::tensor::TensorSpec {
            crate::tensor::TensorSpec {
                name: s.name,
                datatype: s.datatype.into(),
                shape: s.shape,
            }
        }

        /// The host form of a model's metadata.
        pub(crate) fn metadata_from_wit(
            m: model_wit::ModelMetadata,
        ) -> crate::tensor::ModelMetadata {
            crate::tensor::ModelMetadata {
                name: m.name,
                version: m.version,
                platform: m.platform,
                inputs: m.inputs.into_iter().map(spec_from_wit).collect(),
                outputs: m.outputs.into_iter().map(spec_from_wit).collect(),
            }
        }

        /// The host form of a model's error kind.
        pub(crate) fn error_kind(kind: model_wit::ErrorKind) -> crate::error::ModelErrorKind {
            use crate::error::ModelErrorKind;
            match kind {
                model_wit::ErrorKind::InvalidInput => ModelErrorKind::InvalidInput,
                model_wit::ErrorKind::Internal => ModelErrorKind::Internal,
                model_wit::ErrorKind::Unavailable => ModelErrorKind::Unavailable,
            }
        }
    };
}

pub(crate) use {datatype_conversions, model_conversions};

/// The host form of a policy's denial (the same record in every series).
fn denial<T>(status: u16, reason: String) -> crate::policy_abi::Decision<T> {
    crate::policy_abi::Decision::Deny { status, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interfaces of one WIT file with the version that added each.
    fn declared(source: &str) -> (semver::Version, Vec<(String, semver::Version)>) {
        let mut resolve = wit_parser::Resolve::default();
        let pkg = resolve.push_str("edgeserve.wit", source).unwrap();
        let package = &resolve.packages[pkg];
        let version = package.name.version.clone().unwrap();
        let first = semver::Version::new(version.major, version.minor, 0);
        let mut ifaces: Vec<(String, semver::Version)> = package
            .interfaces
            .iter()
            .map(|(name, id)| {
                let since = match &resolve.interfaces[*id].stability {
                    wit_parser::Stability::Stable { since, .. } => since.clone(),
                    _ => first.clone(),
                };
                (name.clone(), since)
            })
            .collect();
        ifaces.sort();
        (version, ifaces)
    }

    /// The version table and constants agree with `wit/edgeserve.wit` and
    /// `wit/legacy/0.1.1/edgeserve.wit`: package versions, and each
    /// interface's `@since`.
    #[test]
    fn versions_follow_the_wit_files() {
        let (current, mut all) = declared(include_str!("../../../wit/edgeserve.wit"));
        let (legacy, old) = declared(include_str!("../../../wit/legacy/0.1.1/edgeserve.wit"));
        assert_eq!(WIT_VERSION, current.to_string());
        assert_eq!(Abi::V2.version(), current.to_string());
        assert_eq!(Abi::V1.version(), legacy.to_string());
        assert_eq!(
            MODEL_EXPORT,
            format!("edgeserve:ml/inference@{WIT_VERSION}")
        );
        assert_eq!(POLICY_EXPORT, format!("edgeserve:ml/filter@{WIT_VERSION}"));
        all.extend(old);
        all.sort();
        let mut table: Vec<(String, semver::Version)> = INTERFACES
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        table.sort();
        assert_eq!(all, table);
    }

    #[test]
    fn is_ours_takes_only_versions_this_host_runs() {
        for (name, iface, ours) in [
            ("edgeserve:ml/inference@0.1.0", "inference", true),
            ("edgeserve:ml/inference@0.1.1", "inference", true),
            ("edgeserve:ml/inference@0.1.2", "inference", false),
            ("edgeserve:ml/inference@0.2.0", "inference", true),
            ("edgeserve:ml/inference@0.2.1", "inference", false),
            ("edgeserve:ml/inference@0.3.0", "inference", false),
            ("edgeserve:ml/inference@1.1.0", "inference", false),
            ("edgeserve:ml/inference@0.1.1-rc.1", "inference", false),
            ("edgeserve:ml/inference", "inference", false),
            ("edgeserve:ml/inference@x", "inference", false),
            ("edgeserve:ml/inferencex@0.1.0", "inference", false),
            ("other:ml/inference@0.1.0", "inference", false),
            // Added in 0.1.1: a 0.1.0 component cannot have it.
            ("edgeserve:ml/artifacts@0.1.0", "artifacts", false),
            ("edgeserve:ml/artifacts@0.1.1", "artifacts", true),
            ("edgeserve:ml/artifacts@0.2.0", "artifacts", true),
            ("edgeserve:ml/filter@0.1.1", "filter", true),
            ("edgeserve:ml/filter@0.2.0", "filter", true),
            ("edgeserve:ml/unknown@0.1.1", "unknown", false),
        ] {
            assert_eq!(is_ours(name, iface), ours, "{name}");
        }
        assert_eq!(
            Abi::of_export("edgeserve:ml/inference@0.1.0", "inference"),
            Some(Abi::V1)
        );
        assert_eq!(
            Abi::of_export("edgeserve:ml/filter@0.2.0", "filter"),
            Some(Abi::V2)
        );
        assert_eq!(Abi::of_export("edgeserve:ml/filter@0.3.0", "filter"), None);
    }
}
