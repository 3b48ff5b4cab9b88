//! Test support for edgeserve's end-to-end tests: the guest components
//! (built once by `build.rs`), throwaway model repositories, and real
//! server processes on 127.0.0.1 with ports chosen at run time.
//! [`Prometheus`] runs a real Prometheus server that scrapes one of them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub use tempfile;

mod certs;
mod otlp;
mod prometheus;
mod registry;
pub use certs::TestCa;
pub use otlp::{otlp_exports, otlp_receiver_with, otlp_spans};
pub use prometheus::Prometheus;
pub use registry::Registry;

/// Paths of the built guest components, one constant each.
pub mod components {
    include!(concat!(env!("OUT_DIR"), "/components.rs"));
}

/// Iris's one-row request (5.1, 3.5, 1.4, 0.2: a setosa) in the host's
/// types, as the runtime's benchmarks call the component with it.
pub fn iris_request() -> edgeserve_oip::tensor::InferenceRequest {
    use edgeserve_oip::tensor::{DataType, InferenceRequest, Tensor, TensorData};
    let row = [5.1f32, 3.5, 1.4, 0.2];
    InferenceRequest {
        inputs: vec![Tensor {
            name: "input".into(),
            datatype: DataType::F32,
            shape: vec![1, 4],
            data: TensorData::Raw(row.iter().flat_map(|v| v.to_le_bytes()).collect()),
        }],
        ..Default::default()
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A model repository in a temporary folder.
pub struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// An empty repository.
    pub fn new() -> Result<Repo> {
        Ok(Repo {
            dir: tempfile::tempdir()?,
        })
    }

    /// A repository with the example models Iris and Sentiment (version
    /// 1 each).
    pub fn examples() -> Result<Repo> {
        let repo = Repo::new()?;
        repo.add_example("iris", "1", components::IRIS)?;
        repo.add_example("sentiment", "1", components::SENTIMENT)?;
        Ok(repo)
    }

    /// The repository folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Adds `<model>/<version>/` with the component as `model.wasm` and the
    /// given manifest text.
    pub fn add(
        &self,
        model: &str,
        version: &str,
        component: &str,
        manifest: &str,
    ) -> Result<PathBuf> {
        let dir = self.dir.path().join(model).join(version);
        std::fs::create_dir_all(&dir)?;
        std::fs::copy(component, dir.join("model.wasm"))
            .with_context(|| format!("copy {component}"))?;
        std::fs::write(dir.join("manifest.toml"), manifest)?;
        Ok(dir)
    }

    /// Adds an example model the way `scripts/serve-examples` lays it out:
    /// its component, manifest and smoke-test request.
    pub fn add_example(&self, model: &str, version: &str, component: &str) -> Result<PathBuf> {
        let src = repo_root().join("examples").join(model);
        let manifest = std::fs::read_to_string(src.join("manifest.toml"))?;
        let dir = self.add(model, version, component, &manifest)?;
        std::fs::copy(src.join("smoke.json"), dir.join("smoke.json"))?;
        Ok(dir)
    }

    /// Adds policy `name` version 1: the component and a manifest with
    /// `config` as its `[config]` table (8 MiB, 200 ms, a pool of 4).
    pub fn add_policy(&self, name: &str, component: &str, config: &str) -> Result<PathBuf> {
        let manifest = format!(
            "kind = \"policy\"\n[limits]\nmemory = \"8MiB\"\ndeadline = \"200ms\"\npool_size = \
             4\n[config]\n{config}\n"
        );
        self.add(name, "1", component, &manifest)
    }

    /// Writes a file inside a version folder.
    pub fn write(&self, model: &str, version: &str, name: &str, contents: &[u8]) -> Result<()> {
        let dir = self.dir.path().join(model).join(version);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), contents)?;
        Ok(())
    }
}

/// A running `edgeserve serve` process.
pub struct Server {
    child: Child,
    /// The address it listens on.
    pub addr: String,
    /// The admin API address, when it serves one.
    pub admin_addr: Option<String>,
    /// `http` or `https` for the admin API.
    pub admin_scheme: &'static str,
    /// The state folder the test harness made for it (when the test did
    /// not pass `--state-dir`).
    pub state_dir: Option<tempfile::TempDir>,
    /// `http` or `https`.
    pub scheme: &'static str,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `bin serve --listen 127.0.0.1:0 <args>` and waits until it
    /// listens (or fails).
    pub fn start(bin: &str, args: &[&str]) -> Result<Server> {
        Self::start_with_env(bin, args, &[])
    }

    /// Like [`Server::start`], with extra environment variables. Unless the
    /// arguments say otherwise, the admin API listens on a free loopback
    /// port and the state folder is a fresh temporary one.
    pub fn start_with_env(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Server> {
        let mut cmd = Command::new(bin);
        cmd.arg("serve").args(["--listen", "127.0.0.1:0"]);
        if !args.contains(&"--admin-listen") && !args.contains(&"--no-admin") {
            cmd.args(["--admin-listen", "127.0.0.1:0"]);
        }
        let state_dir = if args.contains(&"--state-dir") {
            None
        } else {
            let dir = tempfile::tempdir()?;
            cmd.arg("--state-dir").arg(dir.path());
            Some(dir)
        };
        cmd.args(args)
            .env("EDGESERVE_LOG", "info,edgeserve=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().with_context(|| format!("spawn {bin}"))?;
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(mut l) = log.lock() {
                        l.push_str(&line);
                        l.push('\n');
                    }
                }
            });
        }
        let started = Instant::now();
        loop {
            let text = log.lock().map(|l| l.clone()).unwrap_or_default();
            if let Some(pos) = text.find("listening on ") {
                let rest = &text[pos + "listening on ".len()..];
                let url = rest.lines().next().unwrap_or_default().trim();
                let (scheme, addr) = url.split_once("://").context("listening line")?;
                let admin = text.find("admin API at ").map(|p| {
                    let url = text[p + "admin API at ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default();
                    match url.split_once("://") {
                        Some(("https", a)) => ("https", a.to_string()),
                        Some((_, a)) => ("http", a.to_string()),
                        None => ("http", url.to_string()),
                    }
                });
                let admin_scheme = admin.as_ref().map_or("http", |(s, _)| *s);
                let admin_addr = admin.map(|(_, a)| a);
                return Ok(Server {
                    child,
                    addr: addr.to_string(),
                    admin_addr,
                    admin_scheme,
                    state_dir,
                    scheme: if scheme == "https" { "https" } else { "http" },
                    log,
                });
            }
            if let Some(status) = child.try_wait()? {
                std::thread::sleep(Duration::from_millis(100));
                let text = log.lock().map(|l| l.clone()).unwrap_or_default();
                bail!("edgeserve exited with {status} before listening:\n{text}");
            }
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                bail!("edgeserve did not listen within 120 s:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http(s)://admin_addr/path`.
    pub fn admin_url(&self, path: &str) -> String {
        format!(
            "{}://{}{}",
            self.admin_scheme,
            self.admin_addr.as_deref().unwrap_or("admin-disabled"),
            path
        )
    }

    /// `scheme://addr/path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.log().contains(needle))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (e.g. `TERM`, `INT`, `KILL`).
    pub fn signal(&self, sig: &str) -> Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()?;
        anyhow::ensure!(status.success(), "kill -{sig} failed");
        Ok(())
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() > timeout {
                bail!("edgeserve did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the edgeserve binary with arguments and returns (exit code, stdout,
/// stderr).
pub fn run(bin: &str, args: &[&str]) -> Result<(i32, String, String)> {
    let out = Command::new(bin)
        .args(args)
        .env("EDGESERVE_LOG", "warn")
        .stdin(Stdio::null())
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Reads a JSON reference file from the examples.
pub fn reference(model: &str) -> Result<serde_json::Value> {
    let path = repo_root()
        .join("examples")
        .join(model)
        .join("reference.json");
    Ok(serde_json::from_slice(&std::fs::read(&path)?)?)
}

/// Creates (once, and again when `tests/python/requirements.txt` changes)
/// the virtual environment `target/py-tests` with the pinned Python packages
/// the end-to-end tests use, and returns its interpreter.
pub fn python_env() -> PathBuf {
    python_venv("py-tests", "tests/python/requirements.txt")
}

/// Creates (once, and again when `requirements` changes) the virtual
/// environment `target/<name>` with the packages pinned in `requirements`
/// (a path from the repository root), and returns its interpreter.
pub fn python_venv(name: &str, requirements: &str) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let root = repo_root();
    let venv = root.join("target").join(name);
    let reqs = root.join(requirements);
    let wanted = std::fs::read_to_string(&reqs).expect("the requirements file");
    let stamp = venv.join(".edgeserve-requirements");
    let python = venv.join("bin").join("python");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && python.exists() {
        return python;
    }
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 is needed for the end-to-end tests")
        .success();
    assert!(ok, "python3 -m venv failed");
    let ok = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&reqs)
        .status()
        .expect("pip")
        .success();
    assert!(ok, "pip install -r {} failed", reqs.display());
    std::fs::write(&stamp, wanted).expect("write the requirements stamp");
    python
}

/// Starts `edgeserve serve` on `repo` with `config` (TOML) written to
/// `dir/edgeserve.toml`.
pub fn start_with_config(bin: &str, repo: &Repo, dir: &Path, config: &str) -> Result<Server> {
    let cfg = dir.join("edgeserve.toml");
    std::fs::write(&cfg, config)?;
    let (repo, cfg) = (repo.path().display().to_string(), cfg.display().to_string());
    Server::start(bin, &["--repository", &repo, "--config", &cfg])
}

/// Polls `done` every 20 ms until it holds (true) or `timeout` passes
/// (false).
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
