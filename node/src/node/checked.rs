//! A configuration a node can serve: every value in range (the
//! `[section] key` rules of [`crate::config`]), and the rules that hold
//! between sections — somewhere for models to come from, an admin token
//! and TLS off loopback, TLS given as a certificate and key pair, and no
//! two listeners on one port.

use std::ops::Deref;
use std::path::PathBuf;

use crate::config::{InvalidSetting, ServeConfig};

/// A [`ServeConfig`] that passed every check; the only way to build a
/// [`super::Node`].
#[derive(Clone, Debug)]
pub struct CheckedConfig {
    cfg: ServeConfig,
    /// The program that compiles components in a child process (this
    /// binary, run as `edgeserve compile-worker`); compiled in-process
    /// when `None`.
    pub compile_worker: Option<PathBuf>,
}

impl Deref for CheckedConfig {
    type Target = ServeConfig;

    fn deref(&self) -> &ServeConfig {
        &self.cfg
    }
}

fn bad(key: &str, problem: impl Into<String>) -> InvalidSetting {
    InvalidSetting {
        key: key.to_string(),
        problem: problem.into(),
    }
}

impl CheckedConfig {
    /// Checks `cfg` for serving.
    pub fn new(cfg: ServeConfig) -> Result<CheckedConfig, InvalidSetting> {
        cfg.validate()?;
        if let Some((key, problem)) = cfg.fleet.problems().into_iter().next() {
            return Err(bad(&key, problem));
        }
        if cfg.repository.path.is_none() && !cfg.admin.enabled && cfg.fleet.follow.is_empty() {
            return Err(bad(
                "[repository] path",
                "no model repository: pass --repository DIR (or set [repository] path in \
                 --config), follow models in a registry ([[fleet.follow]]), or enable the admin \
                 API to deploy models into an empty node",
            ));
        }
        check_admin(&cfg)?;
        tls_pair(
            "[server] tls_cert",
            cfg.server.tls_cert.is_some(),
            cfg.server.tls_key.is_some(),
            cfg.server.tls_client_ca.is_some(),
        )?;
        tls_pair(
            "[admin] tls_cert",
            cfg.admin.tls_cert.is_some(),
            cfg.admin.tls_key.is_some(),
            cfg.admin.tls_client_ca.is_some(),
        )?;
        Ok(CheckedConfig {
            cfg,
            compile_worker: None,
        })
    }

    /// Whether the admin API needs a token to be called.
    pub fn admin_token_set(&self) -> bool {
        self.admin.token.as_deref().is_some_and(|t| !t.is_empty())
    }
}

/// The admin listener: a token and TLS off loopback, its own port.
fn check_admin(cfg: &ServeConfig) -> Result<(), InvalidSetting> {
    let a = &cfg.admin;
    let token_set = a.token.as_deref().is_some_and(|t| !t.is_empty());
    let off_loopback = a.enabled && !a.listen.ip().is_loopback();
    if off_loopback && !token_set {
        return Err(bad(
            "[admin] token",
            format!(
                "the admin API would listen on {} without a token: set EDGESERVE_ADMIN_TOKEN \
                 (or [admin] token), or keep the admin listener on a loopback address",
                a.listen
            ),
        ));
    }
    if off_loopback && a.tls_cert.is_none() && !a.plaintext_off_loopback {
        return Err(bad(
            "[admin] tls_cert",
            format!(
                "the admin API would listen on {} over plain HTTP, sending its deploy-capable \
                 token in clear: set [admin] tls_cert and tls_key, or keep it on a loopback \
                 address (set [admin] plaintext_off_loopback = true only behind a network that \
                 encrypts)",
                a.listen
            ),
        ));
    }
    if a.enabled && a.listen == cfg.server.listen && cfg.server.listen.port() != 0 {
        return Err(bad(
            "[admin] listen",
            format!(
                "the admin API and the data plane cannot share {}",
                cfg.server.listen
            ),
        ));
    }
    Ok(())
}

/// A certificate comes with its key; client certificates need TLS.
fn tls_pair(
    key: &str,
    cert: bool,
    private_key: bool,
    client_ca: bool,
) -> Result<(), InvalidSetting> {
    let section = key.split(' ').next().unwrap_or(key);
    match (cert, private_key) {
        (true, true) => Ok(()),
        (false, false) if client_ca => Err(bad(
            &format!("{section} tls_client_ca"),
            format!("client certificates need TLS: set {section} tls_cert and tls_key too"),
        )),
        (false, false) => Ok(()),
        _ => Err(bad(
            key,
            format!("TLS needs both a certificate and a key: set {section} tls_cert and tls_key"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(toml: &str) -> Result<CheckedConfig, InvalidSetting> {
        let cfg: ServeConfig = toml::from_str(toml).expect("parses");
        CheckedConfig::new(cfg)
    }

    #[test]
    fn refuses_what_only_holds_between_sections() {
        let repo = "[repository]\npath = \"models\"\n";
        assert!(checked(repo).is_ok());
        let cases = [
            ("[admin]\nenabled = false\n", "[repository] path"),
            (
                &*format!("{repo}[admin]\nlisten = \"0.0.0.0:8082\"\n"),
                "[admin] token",
            ),
            (
                &*format!(
                    "{repo}[admin]\nlisten = \"0.0.0.0:8082\"\ntoken = \"0123456789abcdef0123\"\n"
                ),
                "[admin] tls_cert",
            ),
            (
                &*format!(
                    "{repo}[server]\nlisten = \"127.0.0.1:9000\"\n[admin]\nlisten = \"127.0.0.1:9000\"\n"
                ),
                "[admin] listen",
            ),
            (
                &*format!("{repo}[server]\ntls_cert = \"c.pem\"\n"),
                "[server] tls_cert",
            ),
            (
                &*format!("{repo}[server]\ntls_client_ca = \"ca.pem\"\n"),
                "[server] tls_client_ca",
            ),
            (
                &*format!("{repo}[admin]\ntls_key = \"k.pem\"\n"),
                "[admin] tls_cert",
            ),
        ];
        for (toml, key) in cases {
            let err = checked(toml).expect_err(toml);
            assert_eq!(err.key, key, "{toml}: {err}");
        }
    }
}
