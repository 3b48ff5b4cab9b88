//! The operator table cannot drift: it is tract's register plus the
//! runner's own operators and rewrites, and docs/onnx.md shows exactly it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::operators::{ML, Runs, SUPPORTED, markdown_table};

fn rows(runs: Runs) -> BTreeSet<(&'static str, &'static str)> {
    SUPPORTED
        .iter()
        .filter(|o| o.runs == runs)
        .map(|o| (o.domain, o.op_type))
        .collect()
}

#[test]
fn supported_is_tracts_register_plus_the_runners_own() {
    let register: BTreeSet<String> = tract_onnx::onnx().op_register.0.keys().cloned().collect();
    let tract: BTreeSet<String> = rows(Runs::Tract)
        .into_iter()
        .map(|(_, op)| op.to_string())
        .collect();
    assert_eq!(
        tract.difference(&register).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "listed as run by tract, but tract does not register them"
    );
    let replaced: BTreeSet<String> = crate::ml::REPLACED.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        register.difference(&tract).collect::<BTreeSet<_>>(),
        replaced.iter().collect::<BTreeSet<_>>(),
        "registered by tract, missing from operators::SUPPORTED (or not replaced by ml::REPLACED)"
    );
    let own: BTreeSet<_> = crate::ml::names().map(|op| (ML, op)).collect();
    assert_eq!(rows(Runs::Runner), own);
    let rewritten: BTreeSet<_> = crate::rewrite::REWRITTEN
        .iter()
        .map(|&op| (ML, op))
        .collect();
    assert_eq!(rows(Runs::Rewrite), rewritten);
    // None of the runner's own operators is one tract already has, except
    // the ones it replaces on purpose.
    for (_, op) in rows(Runs::Runner).iter().chain(&rows(Runs::Rewrite)) {
        assert!(
            !register.contains(*op) || replaced.contains(*op),
            "{op} is tract's"
        );
    }
}

const BEGIN: &str = "<!-- operators:begin (generated from operators::SUPPORTED) -->\n";
const END: &str = "<!-- operators:end -->";

/// docs/onnx.md lists exactly [`SUPPORTED`]. Run with `BLESS=1` to rewrite
/// the table there.
#[test]
fn docs_list_exactly_the_supported_operators() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../docs/onnx.md");
    let doc = std::fs::read_to_string(&path).expect("docs/onnx.md");
    let start = doc.find(BEGIN).expect("the table's begin marker") + BEGIN.len();
    let end = start + doc[start..].find(END).expect("the table's end marker");
    let want = markdown_table();
    if doc[start..end] != want {
        if std::env::var_os("BLESS").is_some() {
            let updated = format!("{}{want}{}", &doc[..start], &doc[end..]);
            std::fs::write(&path, updated).expect("write docs/onnx.md");
            return;
        }
        panic!(
            "the operator table in {} is out of date: rerun this test with BLESS=1 \
             (cargo test --manifest-path runners/onnx/Cargo.toml -p onnx-graph)",
            path.display()
        );
    }
}
