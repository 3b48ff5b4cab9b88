//! A real OCI registry for the tests: Debian's `docker-registry` (CNCF
//! distribution, installed by `scripts/test-deps`) on a free loopback
//! port, with its storage in a temporary folder. It can be stopped and
//! started again on the same port with the same content (a registry that
//! goes away for a while), and its blob files can be reached on disk (to
//! swap one, as an attacker with write access to the storage would).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A `docker-registry` process. Killed on drop.
pub struct Registry {
    child: Option<Child>,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    dir: tempfile::TempDir,
    /// Whether it asks for a login (htpasswd).
    login: bool,
}

impl Registry {
    /// Writes the registry's config and starts it on a free port.
    pub fn start() -> Result<Registry> {
        Self::start_inner(None)
    }

    /// A registry that lets in only `user` with `password` (HTTP basic
    /// authentication from an htpasswd file, bcrypt-hashed by python3's
    /// `crypt`).
    pub fn start_with_login(user: &str, password: &str) -> Result<Registry> {
        Self::start_inner(Some((user, password)))
    }

    fn start_inner(login: Option<(&str, &str)>) -> Result<Registry> {
        let dir = tempfile::tempdir()?;
        if let Some((user, password)) = login {
            let out = Command::new("python3")
                .args([
                    "-W",
                    "ignore",
                    "-c",
                    "import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
                    password,
                ])
                .output()
                .context("python3 hashes the registry's password")?;
            anyhow::ensure!(out.status.success(), "python3 crypt failed");
            let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
            std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n"))?;
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut r = Registry {
            child: None,
            addr: format!("127.0.0.1:{port}"),
            dir,
            login: login.is_some(),
        };
        r.resume()?;
        Ok(r)
    }

    fn config(&self) -> Result<PathBuf> {
        let path = self.dir.path().join("config.yml");
        let storage = self.dir.path().join("storage");
        std::fs::create_dir_all(&storage)?;
        let auth = if self.login {
            format!(
                "auth:\n  htpasswd:\n    realm: edgeserve-test\n    path: {}\n",
                serde_json::to_string(&self.dir.path().join("htpasswd").display().to_string())?
            )
        } else {
            String::new()
        };
        // JSON strings are valid YAML double-quoted scalars.
        std::fs::write(
            &path,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 {auth}http:\n  addr: {}\n",
                serde_json::to_string(&storage.display().to_string())?,
                serde_json::to_string(&self.addr)?
            ),
        )?;
        Ok(path)
    }

    /// Starts it again (same port, same content) after [`Registry::stop`].
    pub fn resume(&mut self) -> Result<()> {
        let config = self.config()?;
        let child = match Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "the `docker-registry` binary is not installed: run scripts/test-deps as root, \
                 or `sudo apt-get install --no-install-recommends docker-registry`"
            ),
            Err(e) => return Err(e).context("spawn docker-registry"),
        };
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            // 401 is an answer too (a registry that asks for a login).
            if self
                .get("/v2/")
                .is_ok_and(|(status, _)| status == 200 || status == 401)
            {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                bail!("docker-registry exited with {status} before it answered");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "docker-registry did not answer on {} within 30 s",
            self.addr
        )
    }

    /// Stops it (its content stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A plain HTTP GET: (status, body).
    pub fn get(&self, path: &str) -> Result<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(&self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n",
            self.addr
        )?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)?;
        let head_end = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("no HTTP head")?;
        let head = String::from_utf8_lossy(&out[..head_end]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("no status")?;
        Ok((status, out[head_end + 4..].to_vec()))
    }

    /// The file that holds a blob (`sha256:<hex>`) in the registry's storage.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
