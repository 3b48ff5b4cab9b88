//! `SVMClassifier` and `SVMRegressor` (scikit-learn's `SVC`, `NuSVC`,
//! `SVR`, `NuSVR`, `OneClassSVM`), as onnxruntime computes them: the
//! kernel of the input with every support vector, the pairwise (one versus
//! one) decision values summed in double precision, votes, and with
//! `prob_a`/`prob_b` Platt scaling and the pairwise coupling of libsvm.

use std::sync::Arc;

use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::{Attrs, Kernel, Post, logistic, rows_f32, slice, tensor};

/// The kernel function of the support vectors.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Function {
    Linear,
    Poly { gamma: f32, coef0: f32, degree: f32 },
    Rbf { gamma: f32 },
    Sigmoid { gamma: f32, coef0: f32 },
}

impl Function {
    fn parse(attrs: &Attrs) -> TractResult<Function> {
        let params = attrs.floats("kernel_params");
        let param = |i: usize| params.get(i).copied().unwrap_or(0.0);
        let (gamma, coef0, degree) = (param(0), param(1), param(2));
        Ok(
            match attrs.string("kernel_type").as_deref().unwrap_or("LINEAR") {
                "LINEAR" => Function::Linear,
                "POLY" => Function::Poly {
                    gamma,
                    coef0,
                    degree,
                },
                "RBF" => Function::Rbf { gamma },
                "SIGMOID" => Function::Sigmoid { gamma, coef0 },
                other => bail!("kernel_type {other} is not supported"),
            },
        )
    }

    /// `k(x, v)`. onnxruntime sums RBF distances in single precision, one
    /// feature after the other, and computes the others with a GEMM
    /// (approximated here by a double-precision dot product).
    fn eval(self, x: &[f32], v: &[f32]) -> f32 {
        let dot = || x.iter().zip(v).fold(0f32, |acc, (a, b)| a.mul_add(*b, acc));
        match self {
            Function::Linear => dot(),
            Function::Poly {
                gamma,
                coef0,
                degree,
            } => {
                let t = gamma * dot() + coef0;
                if degree == 2.0 {
                    t * t
                } else if degree == 3.0 {
                    t * t * t
                } else {
                    t.powf(degree)
                }
            }
            Function::Rbf { gamma } => {
                let mut sum = 0.0f32;
                for (a, b) in x.iter().zip(v) {
                    let d = a - b;
                    sum += d * d;
                }
                (-gamma * sum).exp()
            }
            Function::Sigmoid { gamma, coef0 } => (gamma * dot() + coef0).tanh(),
        }
    }
}

/// Support vectors, `[count, features]` row-major.
#[derive(Debug)]
struct Vectors {
    data: Vec<f32>,
    features: usize,
}

impl Vectors {
    fn new(data: Vec<f32>, count: usize) -> TractResult<Vectors> {
        ensure!(count > 0, "no support vectors");
        ensure!(
            !data.is_empty() && data.len().is_multiple_of(count),
            "{} support vector values do not make {count} vectors",
            data.len()
        );
        let features = data.len() / count;
        Ok(Vectors { data, features })
    }

    /// The kernel of `x` with every vector, into `out`.
    fn kernels(&self, f: Function, x: &[f32], out: &mut Vec<f32>) {
        out.clear();
        out.extend(self.data.chunks_exact(self.features).map(|v| f.eval(x, v)));
    }
}

/// Class labels: integers or strings.
#[derive(Debug)]
enum Labels {
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

impl Labels {
    fn len(&self) -> usize {
        match self {
            Labels::Ints(l) => l.len(),
            Labels::Strings(l) => l.len(),
        }
    }

    fn datum(&self) -> DatumType {
        match self {
            Labels::Ints(_) => DatumType::I64,
            Labels::Strings(_) => DatumType::String,
        }
    }

    /// The label tensor for the winning class index of each row.
    fn pick(&self, winners: &[usize]) -> TractResult<TValue> {
        let n = [winners.len()];
        match self {
            Labels::Ints(l) => tensor(&n, winners.iter().map(|&w| l[w]).collect()),
            Labels::Strings(l) => tensor(&n, winners.iter().map(|&w| l[w].clone()).collect()),
        }
    }
}

/// How a classifier scores.
#[derive(Debug)]
enum Mode {
    /// libsvm: support vectors per class, one-versus-one decisions.
    Svc {
        vectors: Vectors,
        per_class: Vec<usize>,
        starts: Vec<usize>,
        /// `[classes - 1, vectors]`.
        coefficients: Vec<f32>,
    },
    /// liblinear: one coefficient row per class, `[classes, features]`.
    Linear { coefficients: Vec<f32> },
}

/// `SVMClassifier`: outputs the label `[N]` and the scores `[N, S]`.
#[derive(Debug)]
struct Classifier {
    function: Function,
    mode: Mode,
    features: usize,
    rho: Vec<f32>,
    prob_a: Vec<f32>,
    prob_b: Vec<f32>,
    labels: Labels,
    post: Post,
    weights_all_positive: bool,
}

pub(super) fn classifier(node: &NodeProto) -> TractResult<Arc<dyn Kernel>> {
    let attrs = Attrs(node);
    let labels = if attrs.has("classlabels_strings") {
        Labels::Strings(attrs.strings("classlabels_strings"))
    } else {
        Labels::Ints(attrs.ints("classlabels_ints"))
    };
    let classes = labels.len();
    ensure!(classes >= 2, "needs at least two class labels");
    let pairs = classes * (classes - 1) / 2;
    let coefficients = attrs.floats("coefficients");
    ensure!(!coefficients.is_empty(), "no coefficients");
    let rho = attrs.floats("rho");
    let (prob_a, prob_b) = (attrs.floats("prob_a"), attrs.floats("prob_b"));
    ensure!(
        prob_a.len() == prob_b.len(),
        "prob_a and prob_b differ in length"
    );
    let per_class = attrs.indices("vectors_per_class")?;
    let count: usize = per_class.iter().sum();
    let weights_all_positive = coefficients.iter().all(|&c| c >= 0.0);
    let (mode, features) = if count > 0 {
        ensure!(
            per_class.len() == classes,
            "vectors_per_class has {} entries for {classes} classes",
            per_class.len()
        );
        let vectors = Vectors::new(attrs.floats("support_vectors"), count)?;
        ensure!(
            coefficients.len() >= (classes - 1) * count,
            "{} coefficients, {} expected",
            coefficients.len(),
            (classes - 1) * count
        );
        ensure!(
            rho.len() >= pairs,
            "rho needs one value per pair of classes"
        );
        ensure!(
            prob_a.is_empty() || prob_a.len() >= pairs,
            "prob_a needs one value per pair of classes"
        );
        let starts = per_class
            .iter()
            .scan(0, |start, &n| {
                let s = *start;
                *start += n;
                Some(s)
            })
            .collect();
        let features = vectors.features;
        let mode = Mode::Svc {
            vectors,
            per_class,
            starts,
            coefficients,
        };
        (mode, features)
    } else {
        ensure!(
            coefficients.len().is_multiple_of(classes),
            "{} coefficients do not make {classes} rows",
            coefficients.len()
        );
        ensure!(!rho.is_empty(), "no rho");
        let features = coefficients.len() / classes;
        (Mode::Linear { coefficients }, features)
    };
    let function = if matches!(mode, Mode::Linear { .. }) {
        Function::Linear
    } else {
        Function::parse(&attrs)?
    };
    Ok(Arc::new(Classifier {
        function,
        mode,
        features,
        rho,
        prob_a,
        prob_b,
        labels,
        post: Post::parse(&attrs)?,
        weights_all_positive,
    }))
}

impl Classifier {
    fn classes(&self) -> usize {
        self.labels.len()
    }

    fn pairs(&self) -> usize {
        self.classes() * (self.classes() - 1) / 2
    }

    /// Columns of the scores output.
    fn score_columns(&self) -> usize {
        match self.mode {
            Mode::Svc { .. } if self.prob_a.is_empty() => {
                if self.classes() > 2 {
                    self.pairs()
                } else {
                    2
                }
            }
            _ => self.classes(),
        }
    }

    /// One row: its scores into `scores` (the row of the output) and its
    /// winning class.
    fn row(&self, x: &[f32], scratch: &mut Scratch, scores: &mut [f32]) -> usize {
        let classes = self.classes();
        match &self.mode {
            Mode::Linear { coefficients } => {
                for (s, c) in scores
                    .iter_mut()
                    .zip(coefficients.chunks_exact(self.features))
                {
                    *s = Function::Linear.eval(x, c) + self.rho[0];
                }
                let (best, max) = argmax(scores);
                let label = if classes == 2 {
                    if (self.weights_all_positive && max >= 0.5)
                        || (max > 0.0 && !self.weights_all_positive)
                    {
                        1
                    } else {
                        best
                    }
                } else {
                    best
                };
                self.post.apply(scores);
                label
            }
            Mode::Svc {
                vectors,
                per_class,
                starts,
                coefficients,
            } => {
                let count = vectors.data.len() / vectors.features;
                vectors.kernels(self.function, x, &mut scratch.kernels);
                let k = &scratch.kernels;
                scratch.votes.clear();
                scratch.votes.resize(classes, 0);
                scratch.decisions.clear();
                let mut pair = 0;
                for i in 0..classes - 1 {
                    for j in i + 1..classes {
                        let mut sum = 0f64;
                        let (si, ni) = (starts[i], per_class[i]);
                        let row_j = &coefficients[(j - 1) * count..];
                        for m in si..si + ni {
                            sum += f64::from(row_j[m] * k[m]);
                        }
                        let (sj, nj) = (starts[j], per_class[j]);
                        let row_i = &coefficients[i * count..];
                        for m in sj..sj + nj {
                            sum += f64::from(row_i[m] * k[m]);
                        }
                        sum += f64::from(self.rho[pair]);
                        pair += 1;
                        scratch.decisions.push(sum as f32);
                        scratch.votes[if sum > 0.0 { i } else { j }] += 1;
                    }
                }
                // The first class with the most votes, as std::max_element.
                let mut best = 0;
                for (c, &v) in scratch.votes.iter().enumerate() {
                    if v > scratch.votes[best] {
                        best = c;
                    }
                }
                if !self.prob_a.is_empty() {
                    self.probabilities(scratch, scores);
                    self.post.apply(scores);
                } else if classes > 2 {
                    scores.copy_from_slice(&scratch.decisions);
                    self.post.apply(scores);
                } else {
                    let s = scratch.decisions[0];
                    // onnxruntime writes a binary score as [-s, s] without
                    // a post transform, as [1 - s, s] with one.
                    scores[0] = if self.post == Post::None { -s } else { 1.0 - s };
                    scores[1] = s;
                }
                best
            }
        }
    }

    /// libsvm's probabilities: Platt scaling of each pairwise decision,
    /// then pairwise coupling (onnxruntime's `multiclass_probability`).
    fn probabilities(&self, scratch: &mut Scratch, p: &mut [f32]) {
        let k = self.classes();
        let r = &mut scratch.pairwise;
        r.clear();
        r.resize(k * k, 0.0);
        let mut index = 0;
        for i in 0..k - 1 {
            for j in i + 1..k {
                let d = scratch.decisions[index];
                let v = 1.0 - logistic(d * self.prob_a[index] + self.prob_b[index]);
                let v = v.clamp(1.0e-7, 1.0 - 1.0e-7);
                r[i * k + j] = v;
                r[j * k + i] = 1.0 - v;
                index += 1;
            }
        }
        let q = &mut scratch.q;
        q.clear();
        q.resize(k * k, 0.0);
        let qp = &mut scratch.qp;
        qp.clear();
        qp.resize(k, 0.0);
        let eps = 0.005 / k as f32;
        for i in 0..k {
            p[i] = 1.0 / k as f32;
            for j in 0..i {
                q[i * k + i] += r[j * k + i] * r[j * k + i];
                q[i * k + j] = q[j * k + i];
            }
            for j in i + 1..k {
                q[i * k + i] += r[j * k + i] * r[j * k + i];
                q[i * k + j] = -r[j * k + i] * r[i * k + j];
            }
        }
        for _ in 0..100 {
            let mut pqp = 0.0f32;
            for i in 0..k {
                qp[i] = 0.0;
                for j in 0..k {
                    qp[i] += q[i * k + j] * p[j];
                }
                pqp += p[i] * qp[i];
            }
            let max_error = qp.iter().map(|v| (v - pqp).abs()).fold(0.0f32, f32::max);
            if max_error < eps {
                break;
            }
            for i in 0..k {
                let diff = (-qp[i] + pqp) / q[i * k + i];
                p[i] += diff;
                pqp = (pqp + diff * (diff * q[i * k + i] + 2.0 * qp[i]))
                    / (1.0 + diff)
                    / (1.0 + diff);
                for j in 0..k {
                    qp[j] = (qp[j] + diff * q[i * k + j]) / (1.0 + diff);
                    p[j] /= 1.0 + diff;
                }
            }
        }
    }
}

/// Per-call working memory, reused across the rows of a call.
#[derive(Default)]
struct Scratch {
    kernels: Vec<f32>,
    votes: Vec<u32>,
    decisions: Vec<f32>,
    pairwise: Vec<f32>,
    q: Vec<f32>,
    qp: Vec<f32>,
}

/// The index of the first maximum and the maximum.
fn argmax(values: &[f32]) -> (usize, f32) {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    (best, values.get(best).copied().unwrap_or(0.0))
}

fn check_width(width: usize, features: usize) -> TractResult<()> {
    ensure!(
        width == features,
        "the input has {width} features, the model takes {features}"
    );
    Ok(())
}

impl Kernel for Classifier {
    fn name(&self) -> &'static str {
        "SVMClassifier"
    }

    fn outputs(&self) -> usize {
        2
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&outputs[0].datum_type, self.labels.datum())?;
        s.equals(&outputs[0].rank, 1)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[1].datum_type, DatumType::F32)?;
        s.equals(&outputs[1].rank, 2)?;
        s.equals(&outputs[1].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[1].shape[1], self.score_columns().to_dim())?;
        Ok(())
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = inputs[0].shape[0].clone();
        Ok(tvec!(
            self.labels.datum().fact(std::slice::from_ref(&n)),
            f32::fact(&[n, self.score_columns().into()])
        ))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, n, width) = rows_f32(&inputs[0])?;
        check_width(width, self.features)?;
        let x = slice::<f32>(&x)?;
        let columns = self.score_columns();
        let mut scores = vec![0f32; n * columns];
        let mut winners = Vec::with_capacity(n);
        let mut scratch = Scratch::default();
        for (row, out) in x
            .chunks_exact(width.max(1))
            .zip(scores.chunks_exact_mut(columns))
        {
            winners.push(self.row(row, &mut scratch, out));
        }
        Ok(tvec!(
            self.labels.pick(&winners)?,
            tensor(&[n, columns], scores)?
        ))
    }
}

/// `SVMRegressor`: outputs `[N, 1]`.
#[derive(Debug)]
struct Regressor {
    function: Function,
    /// Support vectors, or none for a linear model (coefficients per feature).
    vectors: Option<Vectors>,
    coefficients: Vec<f32>,
    features: usize,
    rho: f32,
    one_class: bool,
}

pub(super) fn regressor(node: &NodeProto) -> TractResult<Arc<dyn Kernel>> {
    let attrs = Attrs(node);
    let count = usize::try_from(attrs.int("n_supports").unwrap_or(0))
        .map_err(|_| format_err!("n_supports is negative"))?;
    let coefficients = attrs.floats("coefficients");
    ensure!(!coefficients.is_empty(), "no coefficients");
    let rho = *attrs.floats("rho").first().context("no rho")?;
    let (vectors, features, function) = if count > 0 {
        let vectors = Vectors::new(attrs.floats("support_vectors"), count)?;
        ensure!(
            coefficients.len() >= count,
            "{} coefficients for {count} support vectors",
            coefficients.len()
        );
        let features = vectors.features;
        (Some(vectors), features, Function::parse(&attrs)?)
    } else {
        (None, coefficients.len(), Function::Linear)
    };
    Ok(Arc::new(Regressor {
        function,
        vectors,
        coefficients,
        features,
        rho,
        one_class: attrs.int("one_class").unwrap_or(0) != 0,
    }))
}

impl Kernel for Regressor {
    fn name(&self) -> &'static str {
        "SVMRegressor"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        super::regressor_rules(s, inputs, outputs, 1)
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(&[inputs[0].shape[0].clone(), 1.into()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, n, width) = rows_f32(&inputs[0])?;
        check_width(width, self.features)?;
        let x = slice::<f32>(&x)?;
        let mut out = Vec::with_capacity(n);
        let mut kernels = Vec::new();
        for row in x.chunks_exact(width.max(1)).take(n) {
            let y = match &self.vectors {
                Some(v) => {
                    v.kernels(self.function, row, &mut kernels);
                    let sum = kernels
                        .iter()
                        .zip(&self.coefficients)
                        .fold(0f32, |acc, (k, c)| k.mul_add(*c, acc));
                    sum + self.rho
                }
                None => Function::Linear.eval(row, &self.coefficients) + self.rho,
            };
            out.push(if self.one_class {
                if y > 0.0 { 1.0 } else { -1.0 }
            } else {
                y
            });
        }
        Ok(tvec!(tensor(&[n, 1], out)?))
    }
}
