//! `edgeserve push`, `pull`, `sign`, `verify` and `keygen`: versions as
//! signed OCI artifacts in any registry.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use edgeserve_node::fleet::artifact;
use edgeserve_node::fleet::cache::BlobCache;
use edgeserve_node::fleet::keys::{self, KeyKind, SigningKey};
use edgeserve_node::fleet::remote::{Remote, RemoteOptions, parse_reference};
use edgeserve_node::fleet::signature::{self, TrustKey};
use edgeserve_runtime::Runtime;

/// How to reach the registry.
#[derive(Args, Debug, Clone)]
pub(crate) struct RegistryArgs {
    /// Speak plain HTTP to a registry that is not on a loopback address
    /// (loopback registries get plain HTTP anyway). Credentials come from
    /// EDGESERVE_REGISTRY_USERNAME/EDGESERVE_REGISTRY_PASSWORD or the Docker
    /// config file (`docker login`), never from the command line.
    #[arg(long)]
    plain_http: bool,
}

impl RegistryArgs {
    fn remote(&self, reference: &str) -> Result<Remote> {
        let options = RemoteOptions {
            plain_http: self.plain_http,
            ..RemoteOptions::default()
        };
        Ok(Remote::new(parse_reference(reference)?, options)?)
    }
}

/// `edgeserve push`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  edgeserve push target/model-repository/iris/3 registry.example/models/iris:3 --sign-key cosign.key\n  edgeserve push models/iris/4 127.0.0.1:5000/iris:canary"
)]
pub(crate) struct PushArgs {
    /// A version folder (manifest.toml, the component, other files).
    dir: PathBuf,
    /// Where to push: REGISTRY/REPOSITORY:TAG.
    reference: String,
    /// The version number nodes deploy it as [default: the folder's name].
    #[arg(long)]
    version: Option<u64>,
    /// Sign it too, with this PEM private key (PKCS#8, P-256 or Ed25519).
    #[arg(long)]
    sign_key: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// `edgeserve pull`.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  edgeserve pull 127.0.0.1:5000/iris:stable --out iris-3 --key cosign.pub"
)]
pub(crate) struct PullArgs {
    /// REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:...
    reference: String,
    /// The folder to write the version into (created; must be empty).
    #[arg(long)]
    out: PathBuf,
    /// Verify the signature with this public key first (repeatable: any of
    /// them may have signed).
    #[arg(long = "key")]
    keys: Vec<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// `edgeserve sign`.
#[derive(Args, Debug)]
#[command(after_help = "Example:\n  edgeserve sign 127.0.0.1:5000/iris:3 --key cosign.key")]
pub(crate) struct SignArgs {
    /// The version to sign (a tag is resolved to its digest first).
    reference: String,
    /// PEM private key (PKCS#8, P-256 or Ed25519).
    #[arg(long)]
    key: PathBuf,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// `edgeserve verify`.
#[derive(Args, Debug)]
#[command(after_help = "Example:\n  edgeserve verify 127.0.0.1:5000/iris:3 --key cosign.pub")]
pub(crate) struct VerifyArgs {
    /// The version to check.
    reference: String,
    /// PEM public key (repeatable: any of them may have signed).
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// `edgeserve keygen`.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  edgeserve keygen --out cosign    # writes cosign.key (keep it secret) and cosign.pub (give it to nodes)"
)]
pub(crate) struct KeygenArgs {
    /// Path prefix: writes PREFIX.key (mode 0600) and PREFIX.pub.
    #[arg(long)]
    out: PathBuf,
    /// Make an Ed25519 key instead of ECDSA P-256 (cosign's default).
    #[arg(long)]
    ed25519: bool,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn trust_keys(paths: &[PathBuf]) -> Result<Vec<TrustKey>> {
    paths
        .iter()
        .map(|p| {
            TrustKey::from_pem(&read(p)?).with_context(|| format!("public key {}", p.display()))
        })
        .collect()
}

fn signing_key(path: &Path) -> Result<SigningKey> {
    SigningKey::from_pem(&read(path)?).with_context(|| format!("private key {}", path.display()))
}

/// The regular files of a version folder (not recursive).
fn version_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read folder {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        files.push((name, read(&entry.path())?));
    }
    files.sort();
    Ok(files)
}

/// The version number: `--version`, else the folder's name.
fn version_number(dir: &Path, given: Option<u64>) -> Result<u64> {
    if let Some(v) = given.filter(|&v| v > 0) {
        return Ok(v);
    }
    let name = std::path::absolute(dir)?
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.parse::<u64>()
        .ok()
        .filter(|&v| v > 0)
        .with_context(|| {
            format!(
                "{} is not a numbered version folder: say which version it is with --version N",
                dir.display()
            )
        })
}

/// `edgeserve push`.
pub(crate) async fn push(args: PushArgs) -> Result<ExitCode> {
    let version = version_number(&args.dir, args.version)?;
    let files = version_files(&args.dir)?;
    let manifest = files
        .iter()
        .find(|(n, _)| n == edgeserve_node::repository::MANIFEST_FILE)
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let component = edgeserve_node::repository::Manifest::parse(&manifest)
        .map_err(|e| anyhow::anyhow!("{}/manifest.toml: {e}", args.dir.display()))?
        .component_file()
        .to_string();
    let bytes = files
        .iter()
        .find(|(n, _)| *n == component)
        .map(|(_, b)| b.clone())
        .with_context(|| format!("{} has no {component}", args.dir.display()))?;
    let rt = Runtime::new(&Default::default())?;
    let report = edgeserve_runtime::inspect::inspect(&rt, &bytes)
        .await
        .with_context(|| format!("{component} is not a loadable component"))?;
    if !report.compatible {
        bail!(
            "{component} cannot run here: {}",
            report.problem.unwrap_or_default()
        );
    }
    let wit = report.wit_versions.first().cloned().unwrap_or_default();
    let key = args.sign_key.as_deref().map(signing_key).transpose()?;
    let packed = artifact::pack(&files, &report.world, &wit, Some(version))?;
    let remote = args.registry.remote(&args.reference)?;
    // By digest first, then the signature, then the tag: a node that
    // follows the tag never sees the new version unsigned.
    let digest = remote.push(&packed).await?;
    if let Some(key) = &key {
        sign_digest(&remote, &digest, key).await?;
    }
    remote.tag(&packed).await?;
    eprintln!(
        "pushed {} version {version} ({} layers, {} bytes) to {}",
        args.dir.display(),
        packed.layers.len(),
        packed.layers.iter().map(|l| l.bytes.len()).sum::<usize>(),
        args.reference
    );
    println!("{digest}");
    Ok(ExitCode::SUCCESS)
}

async fn sign_digest(remote: &Remote, digest: &str, key: &SigningKey) -> Result<()> {
    let payload = signature::payload(&remote.repository(), digest);
    let sig = key.sign(&payload)?;
    remote.push_signature(digest, &payload, &sig).await?;
    eprintln!("signed {}@{digest}", remote.repository());
    Ok(())
}

/// `edgeserve sign`.
pub(crate) async fn sign(args: SignArgs) -> Result<ExitCode> {
    let key = signing_key(&args.key)?;
    let remote = args.registry.remote(&args.reference)?;
    let digest = remote.resolve().await?;
    sign_digest(&remote, &digest, &key).await?;
    println!("{digest}");
    Ok(ExitCode::SUCCESS)
}

/// A temporary blob cache next to `near`, removed when dropped.
struct TempCache(PathBuf);

impl TempCache {
    fn in_temp() -> TempCache {
        TempCache(std::env::temp_dir().join(format!(".edgeserve-verify-{}", std::process::id())))
    }

    fn near(near: &Path) -> TempCache {
        let parent = std::path::absolute(near)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(std::env::temp_dir);
        TempCache(parent.join(format!(".edgeserve-pull-{}", std::process::id())))
    }
}

impl Drop for TempCache {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn check_signature(
    remote: &Remote,
    digest: &str,
    keys: &[TrustKey],
    cache: &BlobCache,
) -> Result<()> {
    let signatures = remote.signatures(digest, cache).await?;
    signature::verify(digest, &signatures, keys)
        .with_context(|| format!("{}@{digest} refused", remote.repository()))?;
    Ok(())
}

/// `edgeserve verify`: exit 0 when a trusted key signed it, 1 when not.
pub(crate) async fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let keys = trust_keys(&args.keys)?;
    let remote = args.registry.remote(&args.reference)?;
    let digest = remote.resolve().await?;
    let cache = TempCache::in_temp();
    match check_signature(&remote, &digest, &keys, &BlobCache::new(&cache.0)).await {
        Ok(()) => {
            println!("verified {}@{digest}", remote.repository());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("edgeserve: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `edgeserve pull`.
pub(crate) async fn pull(args: PullArgs) -> Result<ExitCode> {
    let keys = trust_keys(&args.keys)?;
    if args.out.exists()
        && std::fs::read_dir(&args.out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} exists and is not empty: pull into a new folder",
            args.out.display()
        );
    }
    let remote = args.registry.remote(&args.reference)?;
    let digest = remote.resolve().await?;
    let cache = TempCache::near(&args.out);
    let blobs = BlobCache::new(&cache.0);
    if !keys.is_empty() {
        check_signature(&remote, &digest, &keys, &blobs).await?;
    }
    let (unpacked, pulled) = remote.pull(&digest, &blobs).await?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for (name, bytes) in &unpacked.files {
        let path = args.out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let version = unpacked
        .version
        .map(|v| format!(" version {v}"))
        .unwrap_or_default();
    eprintln!(
        "pulled {}@{digest}{version} into {} ({pulled} bytes{})",
        remote.repository(),
        args.out.display(),
        if keys.is_empty() {
            ", signature not checked"
        } else {
            ", signature verified"
        }
    );
    println!("{digest}");
    Ok(ExitCode::SUCCESS)
}

/// `edgeserve keygen`.
pub(crate) fn keygen(args: KeygenArgs) -> Result<ExitCode> {
    let kind = if args.ed25519 {
        KeyKind::Ed25519
    } else {
        KeyKind::EcdsaP256
    };
    let (private, public) = keys::generate(kind)?;
    let with = |ext: &str| {
        let mut p = args.out.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    let (key_path, pub_path) = (with(".key"), with(".pub"));
    for p in [&key_path, &pub_path] {
        if p.exists() {
            bail!("{} exists: not overwriting a key", p.display());
        }
    }
    edgeserve_runtime::fsutil::write_private(&key_path, private.as_bytes())
        .with_context(|| format!("cannot write {}", key_path.display()))?;
    std::fs::write(&pub_path, public.as_bytes())
        .with_context(|| format!("cannot write {}", pub_path.display()))?;
    println!(
        "wrote {} (private: keep it secret) and {} (public: [fleet] trust_keys on nodes)",
        key_path.display(),
        pub_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
