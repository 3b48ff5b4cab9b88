//! The operators the ONNX runner runs, and a check that a graph uses only
//! those, answering in one line what to do when it does not.
//!
//! Dependency-free (std only, no `crate::` paths) so that the very same file
//! serves the runner (which checks a graph before handing it to tract) and
//! the `edgeserve` CLI (whose `build` and `check` refuse such a graph before
//! any WebAssembly runs): include it with
//! `#[path = ".../runners/onnx/graph/src/operators.rs"] mod operators;`.
//!
//! [`scan`] reads an ONNX file's node list with a minimal protobuf
//! wire-format reader: bounds-checked, never panicking, whatever the bytes.

use std::fmt;

/// How the runner runs an operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Runs {
    /// tract-onnx runs it as it is.
    Tract,
    /// The runner rewrites it into standard operators that tract runs.
    Rewrite,
    /// The runner's own implementation, a custom operator on tract.
    Runner,
}

impl fmt::Display for Runs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runs::Tract => "tract",
            Runs::Rewrite => "rewrite",
            Runs::Runner => "runner",
        })
    }
}

/// One operator the runner runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Operator {
    /// Its domain: `""` for the standard `ai.onnx` operators, `"ai.onnx.ml"`
    /// for the classic machine-learning ones, `"com.microsoft"` for the
    /// onnxruntime contrib operators tract runs.
    pub domain: &'static str,
    /// Its name (`op_type` in the graph).
    pub op_type: &'static str,
    /// How the runner runs it.
    pub runs: Runs,
    /// Limits or details worth knowing, empty when there are none.
    pub note: &'static str,
}

const fn tract(domain: &'static str, op_type: &'static str) -> Operator {
    tract_with(domain, op_type, "")
}

const fn tract_with(domain: &'static str, op_type: &'static str, note: &'static str) -> Operator {
    Operator {
        domain,
        op_type,
        runs: Runs::Tract,
        note,
    }
}

const fn rewrite(domain: &'static str, op_type: &'static str, note: &'static str) -> Operator {
    Operator {
        domain,
        op_type,
        runs: Runs::Rewrite,
        note,
    }
}

const fn runner(domain: &'static str, op_type: &'static str, note: &'static str) -> Operator {
    Operator {
        domain,
        op_type,
        runs: Runs::Runner,
        note,
    }
}

/// The domain of the classic machine-learning operators.
pub const ML: &str = "ai.onnx.ml";

/// Every operator the ONNX runner runs: those tract-onnx 0.23.9 registers
/// (without its `transformers` feature), plus those the runner rewrites or
/// implements itself. Sorted by domain (`ai.onnx`, `ai.onnx.ml`,
/// `com.microsoft`), then by name.
pub const SUPPORTED: &[Operator] = &[
    tract("", "Abs"),
    tract("", "Acos"),
    tract("", "Acosh"),
    tract("", "Add"),
    tract("", "And"),
    tract("", "ArgMax"),
    tract("", "ArgMin"),
    tract("", "Asin"),
    tract("", "Asinh"),
    tract("", "Atan"),
    tract("", "Atanh"),
    tract("", "AveragePool"),
    tract("", "BatchNormalization"),
    tract("", "BitShift"),
    tract("", "BitwiseAnd"),
    tract("", "BitwiseNot"),
    tract("", "BitwiseOr"),
    tract("", "BitwiseXor"),
    tract("", "BlackmanWindow"),
    tract("", "Cast"),
    tract("", "CastLike"),
    tract("", "Ceil"),
    tract("", "Celu"),
    tract("", "Clip"),
    tract("", "Compress"),
    tract("", "Concat"),
    tract("", "Constant"),
    tract("", "ConstantLike"),
    tract("", "ConstantOfShape"),
    tract("", "Conv"),
    tract("", "ConvInteger"),
    tract("", "ConvTranspose"),
    tract("", "Cos"),
    tract("", "Cosh"),
    tract("", "CumSum"),
    tract("", "DFT"),
    tract("", "DepthToSpace"),
    tract("", "DequantizeLinear"),
    tract("", "Div"),
    tract("", "Dropout"),
    tract("", "DynamicQuantizeLinear"),
    tract("", "Einsum"),
    tract("", "Elu"),
    tract("", "Equal"),
    tract("", "Erf"),
    tract("", "Exp"),
    tract("", "Expand"),
    tract("", "EyeLike"),
    tract("", "Flatten"),
    tract("", "Floor"),
    tract("", "GRU"),
    tract("", "Gather"),
    tract("", "GatherElements"),
    tract("", "GatherND"),
    tract("", "Gelu"),
    tract("", "Gemm"),
    tract("", "GlobalAveragePool"),
    tract("", "GlobalLpPool"),
    tract("", "GlobalMaxPool"),
    tract("", "Greater"),
    tract("", "GreaterOrEqual"),
    tract("", "GridSample"),
    tract("", "GroupNormalization"),
    tract("", "HammingWindow"),
    tract("", "HannWindow"),
    tract("", "HardSigmoid"),
    tract("", "HardSwish"),
    tract("", "Hardmax"),
    tract("", "Identity"),
    tract("", "If"),
    tract("", "InstanceNormalization"),
    tract("", "IsInf"),
    tract("", "IsNaN"),
    tract("", "LRN"),
    tract("", "LSTM"),
    tract("", "LayerNormalization"),
    tract("", "LeakyRelu"),
    tract("", "Less"),
    tract("", "LessOrEqual"),
    tract("", "Log"),
    tract("", "LogSoftmax"),
    tract("", "LpNormalization"),
    tract("", "MatMul"),
    tract("", "MatMulInteger"),
    tract("", "Max"),
    tract("", "MaxPool"),
    tract("", "Mean"),
    tract("", "MeanVarianceNormalization"),
    tract("", "MelWeightMatrix"),
    tract("", "Min"),
    tract("", "Mish"),
    tract("", "Mod"),
    tract("", "Mul"),
    tract("", "Multinomial"),
    tract("", "Neg"),
    tract("", "NonMaxSuppression"),
    tract("", "NonZero"),
    tract("", "Not"),
    tract("", "OneHot"),
    tract("", "Or"),
    tract("", "PRelu"),
    tract("", "Pad"),
    tract("", "ParametricSoftplus"),
    tract("", "Pow"),
    tract("", "QLinearConv"),
    tract("", "QLinearMatMul"),
    tract("", "QuantizeLinear"),
    tract("", "RMSNormalization"),
    tract("", "RNN"),
    tract("", "RandomNormal"),
    tract("", "RandomNormalLike"),
    tract("", "RandomUniform"),
    tract("", "RandomUniformLike"),
    tract("", "Range"),
    tract("", "Reciprocal"),
    tract("", "ReduceL1"),
    tract("", "ReduceL2"),
    tract("", "ReduceLogSum"),
    tract("", "ReduceLogSumExp"),
    tract("", "ReduceMax"),
    tract("", "ReduceMean"),
    tract("", "ReduceMin"),
    tract("", "ReduceProd"),
    tract("", "ReduceSum"),
    tract("", "ReduceSumSquare"),
    tract("", "Relu"),
    tract("", "Reshape"),
    tract("", "Resize"),
    tract("", "RotaryEmbedding"),
    tract("", "Round"),
    tract("", "Rsqrt"),
    tract("", "STFT"),
    tract("", "ScaledTanh"),
    tract("", "Scan"),
    tract("", "Scatter"),
    tract("", "ScatterElements"),
    tract("", "ScatterND"),
    tract("", "Selu"),
    tract("", "Shape"),
    tract("", "Shrink"),
    tract("", "Sigmoid"),
    tract("", "Sign"),
    tract("", "SimplifiedLayerNormalization"),
    tract("", "Sin"),
    tract("", "Sinh"),
    tract("", "Size"),
    tract("", "Slice"),
    tract("", "Softmax"),
    tract("", "Softplus"),
    tract("", "Softsign"),
    tract("", "SpaceToDepth"),
    tract("", "Split"),
    tract("", "Sqrt"),
    tract("", "Squeeze"),
    tract("", "Sub"),
    tract("", "Sum"),
    tract("", "Swish"),
    tract("", "Tan"),
    tract("", "Tanh"),
    tract("", "ThresholdedRelu"),
    tract("", "Tile"),
    tract("", "TopK"),
    tract("", "Transpose"),
    tract("", "Trilu"),
    tract("", "Unsqueeze"),
    tract("", "Where"),
    tract("", "Xor"),
    tract_with(
        "ai.onnx.ml",
        "ArrayFeatureExtractor",
        "a scalar index keeps the last axis, as in onnxruntime (the indices are flattened first)",
    ),
    rewrite("ai.onnx.ml", "Binarizer", "becomes Greater and CastLike"),
    tract("ai.onnx.ml", "CategoryMapper"),
    rewrite(
        "ai.onnx.ml",
        "FeatureVectorizer",
        "becomes Cast and Concat; every input must have the width its inputdimensions says",
    ),
    rewrite(
        "ai.onnx.ml",
        "Imputer",
        "becomes IsNaN (or Equal) and Where",
    ),
    runner(
        "ai.onnx.ml",
        "LabelEncoder",
        "keys and values as strings, int64s or floats (opset 2 attributes)",
    ),
    tract_with(
        "ai.onnx.ml",
        "LinearClassifier",
        "string labels are rewritten into integer labels and a CategoryMapper",
    ),
    tract("ai.onnx.ml", "LinearRegressor"),
    tract("ai.onnx.ml", "Normalizer"),
    runner(
        "ai.onnx.ml",
        "OneHotEncoder",
        "string or int64 categories; with zeros=0 an unknown category is a request error",
    ),
    runner(
        "ai.onnx.ml",
        "SVMClassifier",
        "LINEAR, POLY, RBF and SIGMOID kernels, with or without probabilities",
    ),
    runner(
        "ai.onnx.ml",
        "SVMRegressor",
        "LINEAR, POLY, RBF and SIGMOID kernels, one_class too",
    ),
    rewrite("ai.onnx.ml", "Scaler", "becomes Sub and Mul"),
    runner(
        "ai.onnx.ml",
        "TreeEnsembleClassifier",
        "replaces tract's; int64 or string labels, binary with one score column, every post transform",
    ),
    runner(
        "ai.onnx.ml",
        "TreeEnsembleRegressor",
        "SUM and AVERAGE aggregates, every post transform, one or more targets",
    ),
    rewrite(
        "ai.onnx.ml",
        "ZipMap",
        "only as the last node: dropped, its graph output carries the probabilities tensor",
    ),
    tract("com.microsoft", "BiasGelu"),
    tract("com.microsoft", "FastGelu"),
    tract("com.microsoft", "GatherBlockQuantized"),
    tract("com.microsoft", "Gelu"),
    tract("com.microsoft", "MatMulNBits"),
    tract("com.microsoft", "QuickGelu"),
    tract("com.microsoft", "RotaryEmbedding"),
    tract("com.microsoft", "SkipLayerNormalization"),
    tract("com.microsoft", "SkipSimplifiedLayerNormalization"),
];

/// The supported operator `op_type` of `domain` (`""` and `"ai.onnx"` are
/// the same domain), if the runner runs it.
pub fn find(domain: &str, op_type: &str) -> Option<&'static Operator> {
    let domain = canonical_domain(domain);
    SUPPORTED
        .iter()
        .find(|o| o.domain == domain && o.op_type == op_type)
}

/// `""` for the standard domain however the graph spells it (`""` or
/// `"ai.onnx"`), any other domain as it is.
pub fn canonical_domain(domain: &str) -> &str {
    if domain == "ai.onnx" { "" } else { domain }
}

/// A domain as people write it: `ai.onnx` for the standard one.
pub fn display_domain(domain: &str) -> &str {
    match canonical_domain(domain) {
        "" => "ai.onnx",
        d => d,
    }
}

/// One node of a graph, as [`scan`] reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// The operator's domain as written (`""` for the standard one).
    pub domain: String,
    /// The operator's name.
    pub op_type: String,
    /// The node's name (may be empty).
    pub name: String,
    /// The names of the tensors it reads (an empty name: an omitted input).
    pub inputs: Vec<String>,
    /// The names of the tensors it writes.
    pub outputs: Vec<String>,
}

impl Node {
    /// How messages name the node: its name, else its first output's.
    pub fn label(&self) -> &str {
        if !self.name.is_empty() {
            &self.name
        } else {
            self.outputs
                .iter()
                .find(|o| !o.is_empty())
                .map_or(self.op_type.as_str(), String::as_str)
        }
    }
}

/// The main graph of an ONNX model, as [`scan_graph`] reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Its nodes, in file order (subgraphs of `If`, `Loop` and `Scan` are
    /// not read).
    pub nodes: Vec<Node>,
    /// The names of the graph's inputs (older files list initialisers too).
    pub inputs: Vec<String>,
    /// The names of the graph's outputs.
    pub outputs: Vec<String>,
}

/// The nodes of an ONNX model's main graph (see [`scan_graph`]).
pub fn scan(onnx_bytes: &[u8]) -> Result<Vec<Node>, String> {
    scan_graph(onnx_bytes).map(|g| g.nodes)
}

/// Reads an ONNX model's main graph: its nodes and the names of its inputs
/// and outputs. Bounds-checked: any bytes give a value or an error, never a
/// panic.
pub fn scan_graph(onnx_bytes: &[u8]) -> Result<Scan, String> {
    let fail = |e: String| format!("not an ONNX model: {e}");
    let mut model = Reader::new(onnx_bytes);
    let mut graph = None;
    while let Some((field, value)) = model.field().map_err(fail)? {
        // ModelProto.graph
        if field == 7 {
            graph = Some(value.bytes().map_err(fail)?);
        }
    }
    let Some(graph) = graph else {
        return Err(fail("it has no graph".into()));
    };
    read_graph(graph).map_err(fail)
}

fn read_graph(bytes: &[u8]) -> Result<Scan, String> {
    let mut scan = Scan::default();
    let mut graph = Reader::new(bytes);
    while let Some((field, value)) = graph.field()? {
        match field {
            // GraphProto.node
            1 => scan.nodes.push(read_node(value.bytes()?)?),
            // GraphProto.input, GraphProto.output: ValueInfoProto.name
            11 => scan.inputs.push(read_value_name(value.bytes()?)?),
            12 => scan.outputs.push(read_value_name(value.bytes()?)?),
            _ => {}
        }
    }
    Ok(scan)
}

fn read_node(bytes: &[u8]) -> Result<Node, String> {
    let mut node = Node::default();
    let mut r = Reader::new(bytes);
    while let Some((field, value)) = r.field()? {
        match field {
            1 => node.inputs.push(value.string()?),
            2 => node.outputs.push(value.string()?),
            3 => node.name = value.string()?,
            4 => node.op_type = value.string()?,
            7 => node.domain = value.string()?,
            _ => {}
        }
    }
    Ok(node)
}

fn read_value_name(bytes: &[u8]) -> Result<String, String> {
    let mut name = String::new();
    let mut r = Reader::new(bytes);
    while let Some((field, value)) = r.field()? {
        if field == 1 {
            name = value.string()?;
        }
    }
    Ok(name)
}

/// The first reason the ONNX runner cannot run this model, as one line
/// that says what to do; `Ok` when every operator of its main graph is
/// supported. A ZipMap whose output is a graph output passes: the runner
/// drops it (see docs/onnx.md).
pub fn check(onnx_bytes: &[u8]) -> Result<(), String> {
    let graph = scan_graph(onnx_bytes)?;
    for node in &graph.nodes {
        let domain = canonical_domain(&node.domain);
        if domain == ML && node.op_type == "ZipMap" {
            let trailing =
                !node.outputs.is_empty() && node.outputs.iter().all(|o| graph.outputs.contains(o));
            if trailing {
                continue;
            }
            return Err(format!(
                "operator ZipMap ({ML}) in node '{}' is not supported: re-export with \
                 options={{'zipmap': False}} (skl2onnx)",
                node.label()
            ));
        }
        if find(domain, &node.op_type).is_none() {
            return Err(format!(
                "operator {} ({}) in node '{}' is not supported by the ONNX runner: export the \
                 model with the operators docs/onnx.md lists",
                node.op_type,
                display_domain(domain),
                node.label()
            ));
        }
    }
    Ok(())
}

/// [`SUPPORTED`] as the Markdown table docs/onnx.md shows.
pub fn markdown_table() -> String {
    let mut out = String::from("| domain | operator | run by | notes |\n|---|---|---|---|\n");
    for op in SUPPORTED {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            display_domain(op.domain),
            op.op_type,
            op.runs,
            op.note
        ));
    }
    out
}

/// A protobuf wire-format reader over one message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// One field's value.
enum Value<'a> {
    /// A varint, a fixed 32-bit or a fixed 64-bit number (unused here).
    Number,
    /// A length-delimited value: bytes, a string or a message.
    Bytes(&'a [u8]),
}

impl<'a> Value<'a> {
    fn bytes(self) -> Result<&'a [u8], String> {
        match self {
            Value::Bytes(b) => Ok(b),
            Value::Number => Err("a message field holds a number".into()),
        }
    }

    fn string(self) -> Result<String, String> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(format!(
            "a varint longer than 10 bytes at byte {}",
            self.pos
        ))
    }

    fn skip(&mut self, n: u64) -> Result<&'a [u8], String> {
        let start = self.pos;
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| start.checked_add(n))
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| format!("a field at byte {start} runs past the end"))?;
        self.pos = end;
        Ok(&self.buf[start..end])
    }

    /// The next field number and value, or `None` at the end.
    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let at = self.pos;
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err(format!("field number 0 at byte {at}"));
        }
        let value = match key & 7 {
            0 => {
                self.varint()?;
                Value::Number
            }
            1 => {
                self.skip(8)?;
                Value::Number
            }
            2 => {
                let len = self.varint()?;
                Value::Bytes(self.skip(len)?)
            }
            5 => {
                self.skip(4)?;
                Value::Number
            }
            wire => return Err(format!("wire type {wire} at byte {at}")),
        };
        Ok(Some((field, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protobuf writer for the few fields the tests need.
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn field(number: u64, bytes: &[u8], out: &mut Vec<u8>) {
        varint(number << 3 | 2, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    fn node(domain: &str, op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> Vec<u8> {
        let mut n = Vec::new();
        for i in inputs {
            field(1, i.as_bytes(), &mut n);
        }
        for o in outputs {
            field(2, o.as_bytes(), &mut n);
        }
        field(3, name.as_bytes(), &mut n);
        field(4, op.as_bytes(), &mut n);
        if !domain.is_empty() {
            field(7, domain.as_bytes(), &mut n);
        }
        // an attribute, skipped
        field(5, b"\x0a\x01a", &mut n);
        n
    }

    fn model(nodes: &[Vec<u8>], outputs: &[&str]) -> Vec<u8> {
        let mut g = Vec::new();
        for n in nodes {
            field(1, n, &mut g);
        }
        field(2, b"graph", &mut g);
        let mut input = Vec::new();
        field(1, b"x", &mut input);
        field(11, &input, &mut g);
        for o in outputs {
            let mut v = Vec::new();
            field(1, o.as_bytes(), &mut v);
            field(12, &v, &mut g);
        }
        let mut m = Vec::new();
        varint(1 << 3, &mut m);
        varint(8, &mut m); // ir_version 8
        field(7, &g, &mut m);
        m
    }

    fn zipmap_model(trailing: bool) -> Vec<u8> {
        let svc = node(
            ML,
            "SVMClassifier",
            "svc",
            &["x"],
            &["label", "probabilities"],
        );
        let zip = node(
            ML,
            "ZipMap",
            "zip",
            &["probabilities"],
            &["output_probability"],
        );
        let mut nodes = vec![svc, zip];
        if !trailing {
            nodes.push(node(
                "",
                "Identity",
                "after",
                &["output_probability"],
                &["y"],
            ));
        }
        let out = if trailing { "output_probability" } else { "y" };
        model(&nodes, &["label", out])
    }

    #[test]
    fn scans_nodes_and_outputs() {
        let g = scan_graph(&zipmap_model(true)).expect("scan");
        assert_eq!(g.inputs, ["x"]);
        assert_eq!(g.outputs, ["label", "output_probability"]);
        assert_eq!(
            g.nodes[0],
            Node {
                domain: ML.into(),
                op_type: "SVMClassifier".into(),
                name: "svc".into(),
                inputs: vec!["x".into()],
                outputs: vec!["label".into(), "probabilities".into()],
            }
        );
        assert_eq!(scan(&zipmap_model(true)).expect("scan").len(), 2);
    }

    #[test]
    fn a_trailing_zipmap_passes_another_one_gets_the_hint() {
        assert_eq!(check(&zipmap_model(true)), Ok(()));
        assert_eq!(
            check(&zipmap_model(false)),
            Err(
                "operator ZipMap (ai.onnx.ml) in node 'zip' is not supported: re-export with \
                 options={'zipmap': False} (skl2onnx)"
                    .into()
            )
        );
    }

    #[test]
    fn unknown_operators_are_named_with_their_node() {
        let bytes = model(
            &[
                node("ai.onnx", "Relu", "", &["x"], &["r"]),
                node("", "StringNormalizer", "", &["r"], &["y"]),
            ],
            &["y"],
        );
        let e = check(&bytes).expect_err("unsupported");
        assert_eq!(
            e,
            "operator StringNormalizer (ai.onnx) in node 'y' is not supported by the ONNX \
             runner: export the model with the operators docs/onnx.md lists"
        );
        assert!(!e.contains('\n'));
        // A standard name in a foreign domain is another operator.
        let bytes = model(&[node("com.example", "Relu", "n", &["x"], &["y"])], &["y"]);
        assert!(
            check(&bytes)
                .expect_err("foreign")
                .contains("Relu (com.example)")
        );
    }

    #[test]
    fn garbage_and_truncations_are_errors_never_panics() {
        let good = zipmap_model(false);
        for len in 0..good.len() {
            let _ = check(&good[..len]);
            let _ = scan_graph(&good[..len]);
        }
        assert!(
            check(b"not a graph")
                .expect_err("garbage")
                .starts_with("not an ONNX model")
        );
        assert!(check(b"").expect_err("empty").contains("no graph"));
        // A length that runs past the end, a varint that never ends, a
        // group wire type, a huge length.
        for bytes in [
            &b"\x3a\x05ab"[..],
            &[0xff; 16][..],
            &b"\x3b"[..],
            &b"\x3a\xff\xff\xff\xff\xff\xff\xff\xff\x7f"[..],
        ] {
            assert!(check(bytes).is_err(), "{bytes:?}");
        }
        // Pseudo-random bytes (a fixed xorshift), and every byte flipped.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2000 {
            let len = (state % 64) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let _ = check(&bytes);
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xa5;
            let _ = check(&bad);
        }
    }

    #[test]
    fn the_table_is_sorted_and_unique() {
        let rank = |d: &str| match d {
            "" => 0,
            ML => 1,
            _ => 2,
        };
        for pair in SUPPORTED.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let key = |o: &Operator| (rank(o.domain), o.op_type);
            assert!(key(a) < key(b), "{a:?} before {b:?}");
        }
        assert!(find("ai.onnx", "Relu").is_some());
        assert!(find("", "Relu").is_some());
        assert!(find(ML, "Relu").is_none());
        assert_eq!(
            find(ML, "ZipMap").map(|o| o.runs),
            Some(Runs::Rewrite),
            "ZipMap"
        );
        let table = markdown_table();
        assert_eq!(table.lines().count(), SUPPORTED.len() + 2);
    }
}
