//! Registry credentials: from the environment or the Docker config file,
//! never from the command line (where `ps` and shell history would show
//! them).
//!
//! In order: `EDGESERVE_REGISTRY_USERNAME` and `EDGESERVE_REGISTRY_PASSWORD`
//! (both, for every registry), then the `auths` entry for the registry in
//! `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` (what `docker
//! login` and `oras login` write), else anonymous.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

/// The user name variable.
pub const USERNAME_VAR: &str = "EDGESERVE_REGISTRY_USERNAME";
/// The password (or token) variable.
pub const PASSWORD_VAR: &str = "EDGESERVE_REGISTRY_PASSWORD";

/// How to authenticate to one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials.
    Anonymous,
    /// A user name and password (or token).
    Basic {
        /// The user name.
        username: String,
        /// The password or token.
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <hidden>)"),
        }
    }
}

/// Why the credentials could not be read.
#[derive(Debug, thiserror::Error)]
#[error("registry credentials: {0}")]
pub struct CredentialsError(String);

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The Docker config file this process would read.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(Path::new(&dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker").join("config.json"))
}

/// The credentials for `registry` (`host[:port]`).
pub fn for_registry(registry: &str) -> Result<Credentials, CredentialsError> {
    let user = std::env::var(USERNAME_VAR).ok();
    let pass = std::env::var(PASSWORD_VAR).ok();
    match (user, pass) {
        (Some(username), Some(password)) => {
            return Ok(Credentials::Basic { username, password });
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(CredentialsError(format!(
                "set both {USERNAME_VAR} and {PASSWORD_VAR}, or neither"
            )));
        }
        (None, None) => {}
    }
    let Some(path) = docker_config_path() else {
        return Ok(Credentials::Anonymous);
    };
    match std::fs::read(&path) {
        Ok(bytes) => from_docker_config(&bytes, registry)
            .map_err(|e| CredentialsError(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::Anonymous),
        Err(e) => Err(CredentialsError(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// The credentials a Docker config file's `auths` holds for `registry`
/// (keys may be `host:port` or a URL such as `https://host:port/v1/`).
pub fn from_docker_config(bytes: &[u8], registry: &str) -> Result<Credentials, String> {
    let config: DockerConfig = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let host_of = |key: &str| {
        let key = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        key.split('/').next().unwrap_or(key).to_string()
    };
    let Some(entry) = config
        .auths
        .iter()
        .find(|(k, _)| host_of(k) == registry)
        .map(|(_, v)| v)
    else {
        return Ok(Credentials::Anonymous);
    };
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
        });
    }
    let Some(auth) = &entry.auth else {
        return Ok(Credentials::Anonymous);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| format!("the auth entry for {registry} is not base64 of user:password"))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| format!("the auth entry for {registry} is not user:password"))?;
    Ok(Credentials::Basic {
        username: username.to_string(),
        password: password.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_entries_are_found_by_host() {
        let auth = base64::engine::general_purpose::STANDARD.encode("ops:s3cret");
        let file = format!(
            r#"{{"auths": {{"https://registry.example:5000/v1/": {{"auth": "{auth}"}},
                "other.example": {{"username": "u", "password": "p"}}}}}}"#
        );
        assert_eq!(
            from_docker_config(file.as_bytes(), "registry.example:5000").unwrap(),
            Credentials::Basic {
                username: "ops".into(),
                password: "s3cret".into()
            }
        );
        assert_eq!(
            from_docker_config(file.as_bytes(), "other.example").unwrap(),
            Credentials::Basic {
                username: "u".into(),
                password: "p".into()
            }
        );
        assert_eq!(
            from_docker_config(file.as_bytes(), "third.example").unwrap(),
            Credentials::Anonymous
        );
        let bad = r#"{"auths": {"r.example": {"auth": "not base64!"}}}"#;
        assert!(from_docker_config(bad.as_bytes(), "r.example").is_err());
    }

    #[test]
    fn a_password_is_never_printed() {
        let c = Credentials::Basic {
            username: "ops".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
