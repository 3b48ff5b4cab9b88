//! `edgeserve build` and `edgeserve new`: the CLI side of
//! [`crate::scaffold`].

use std::path::PathBuf;
use std::process::ExitCode;

use crate::scaffold::build::ProjectKind;
use crate::scaffold::{self, BuildOptions, Lang};
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};

#[derive(Args, Debug)]
pub(crate) struct BuildArgs {
    /// The project: a Rust crate folder, a folder with app.py, a folder with
    /// model.onnx, or an .onnx / .py file.
    project: PathBuf,
    /// Where to write `<name>/<version>/` (a model repository).
    #[arg(long, short = 'o', default_value = "models")]
    out: PathBuf,
    /// Model name [default: the folder name, or the .onnx file's stem].
    #[arg(long)]
    name: Option<String>,
    /// Version folder.
    #[arg(long, default_value_t = 1)]
    version: u64,
    /// The ONNX runner component (ONNX projects) [default:
    /// $EDGESERVE_ONNX_RUNNER, else onnx_runner.wasm beside this binary, else
    /// ../guests/wasm32-wasip2/release/onnx_runner.wasm from it, where
    /// scripts/build-examples builds it].
    #[arg(long)]
    runner: Option<PathBuf>,
    /// The Python module to build (Python projects) [default: app].
    #[arg(long)]
    module: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct NewArgs {
    #[command(subcommand)]
    what: NewWhat,
}

#[derive(Subcommand, Debug)]
enum NewWhat {
    /// A model project.
    Model {
        /// The project's language.
        #[arg(long, value_enum)]
        lang: LangArg,
        /// Model name (also the folder name).
        name: String,
        /// The folder to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The edgeserve guest SDK (Rust) [default: the checkout this binary
        /// was built from].
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LangArg {
    Rust,
    Python,
    Onnx,
}

pub(crate) fn build(args: BuildArgs) -> Result<ExitCode> {
    let built = scaffold::build(&BuildOptions {
        project: args.project,
        out: args.out.clone(),
        name: args.name,
        version: args.version,
        runner: args.runner,
        module: args.module,
    })?;
    println!(
        "built {} ({}) into {}: {}",
        built.name,
        match built.kind {
            ProjectKind::Rust => "Rust",
            ProjectKind::Python => "Python",
            ProjectKind::Onnx => "ONNX",
        },
        built.dir.display(),
        built.files.join(", ")
    );
    println!(
        "next: edgeserve check {}   (or: edgeserve deploy {} <version> --path {})",
        args.out.display(),
        built.name,
        built.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn new(args: NewArgs) -> Result<ExitCode> {
    let NewWhat::Model {
        lang,
        name,
        dir,
        sdk,
    } = args.what;
    let lang = match lang {
        LangArg::Rust => Lang::Rust,
        LangArg::Python => Lang::Python,
        LangArg::Onnx => Lang::Onnx,
    };
    let made = scaffold::new_model(lang, &name, &dir, sdk.as_deref())?;
    // `iris`, not `./iris`: what the user types next.
    let made = made.strip_prefix(".").map(PathBuf::from).unwrap_or(made);
    println!("created {}", made.display());
    if matches!(lang, Lang::Onnx) {
        println!(
            "next: put your graph in {}, then: edgeserve build {} --out models",
            made.join("model.onnx").display(),
            made.display()
        );
    } else {
        println!("next: edgeserve build {} --out models", made.display());
    }
    Ok(ExitCode::SUCCESS)
}
