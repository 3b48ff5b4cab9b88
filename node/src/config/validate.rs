//! Start-up validation of every configuration value: a setting a host
//! cannot honour (a zero interval, a timeout past any sane bound, a budget
//! smaller than one request) is refused with the key that holds it, before
//! anything is bound or loaded.

use std::time::Duration;

use super::{ModelDefaults, ServeConfig};
use crate::units::{ByteSize, HumanDuration};

/// A configuration value that cannot be used: the key and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct InvalidSetting {
    /// The setting, e.g. `[server] body_read_timeout`.
    pub key: String,
    /// What is wrong with it, and what would do.
    pub problem: String,
}

/// The longest any timeout or interval may be: a day. Past this a setting
/// is a mistake, and a far larger one overflows the clock's arithmetic.
const LONGEST: Duration = Duration::from_secs(24 * 3600);

fn bad(key: &str, problem: impl Into<String>) -> InvalidSetting {
    InvalidSetting {
        key: key.to_string(),
        problem: problem.into(),
    }
}

/// Checks `d` is within `[min, max]`.
fn duration(
    key: &str,
    d: HumanDuration,
    min: Duration,
    max: Duration,
) -> Result<(), InvalidSetting> {
    if d.0 < min || d.0 > max {
        return Err(bad(
            key,
            format!(
                "{d} is outside {} to {}",
                HumanDuration(min),
                HumanDuration(max)
            ),
        ));
    }
    Ok(())
}

/// Checks `b` is within `[min, max]`.
fn size(key: &str, b: ByteSize, min: u64, max: u64) -> Result<(), InvalidSetting> {
    if b.0 < min || b.0 > max {
        return Err(bad(
            key,
            format!("{b} is outside {} to {}", ByteSize(min), ByteSize(max)),
        ));
    }
    Ok(())
}

/// Checks a count is within `[min, max]`.
fn count(key: &str, n: u64, min: u64, max: u64) -> Result<(), InvalidSetting> {
    if n < min || n > max {
        return Err(bad(key, format!("{n} is outside {min} to {max}")));
    }
    Ok(())
}

const MS: Duration = Duration::from_millis(1);
const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

impl ServeConfig {
    /// Checks every value this configuration holds; the first that cannot
    /// be used is returned with its key.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        self.validate_server()?;
        self.validate_admin()?;
        let r = &self.runtime;
        count(
            "[runtime] instance_slots",
            u64::from(r.instance_slots),
            1,
            1_000_000,
        )?;
        size("[runtime] max_memory", r.max_memory, 64 * KIB, 64 * GIB)?;
        size(
            "[runtime] memory_reservation",
            r.memory_reservation,
            64 * KIB,
            1 << 40,
        )?;
        count(
            "[runtime] max_table_elements",
            u64::from(r.max_table_elements),
            1,
            100_000_000,
        )?;
        duration(
            "[runtime] epoch_tick",
            r.epoch_tick,
            Duration::from_micros(100),
            Duration::from_secs(1),
        )?;
        duration("[runtime] compile_timeout", r.compile_timeout, MS, LONGEST)?;
        size(
            "[runtime] compile_memory",
            r.compile_memory,
            64 * MIB,
            1 << 40,
        )?;
        validate_defaults(&self.model_defaults, r.max_memory)?;
        duration(
            "[state] guard_interval",
            self.state.guard_interval,
            10 * MS,
            LONGEST,
        )?;
        if !self.repository.poll_interval.0.is_zero() {
            duration(
                "[repository] poll_interval",
                self.repository.poll_interval,
                10 * MS,
                LONGEST,
            )?;
        }
        let log = &self.prediction_log;
        size(
            "[prediction_log] max_file_size",
            log.max_file_size,
            KIB,
            1 << 40,
        )?;
        count(
            "[prediction_log] max_files",
            log.max_files as u64,
            1,
            100_000,
        )?;
        count("[prediction_log] queue", log.queue as u64, 1, 10_000_000)?;
        size(
            "[prediction_log] queue_bytes",
            log.queue_bytes,
            64 * KIB,
            64 * GIB,
        )?;
        size(
            "[prediction_log] max_record_tensors",
            log.max_record_tensors,
            0,
            log.queue_bytes.0,
        )?;
        let t = &self.telemetry;
        duration(
            "[telemetry] export_interval",
            t.export_interval,
            10 * MS,
            LONGEST,
        )?;
        if !(0.0..=1.0).contains(&t.trace_sample_ratio) {
            return Err(bad(
                "[telemetry] trace_sample_ratio",
                format!("{} is outside 0 to 1", t.trace_sample_ratio),
            ));
        }
        self.validate_tenants()
    }

    /// Every tenant the configuration names is one of the `[[tenants]]`
    /// (when there are any): a typo must not leave a key without rules.
    fn validate_tenants(&self) -> Result<(), InvalidSetting> {
        // default_tenant and require_tenant are checked where the tenants
        // are built (security::Tenants::new).
        if self.tenants.is_empty() {
            return Ok(());
        }
        let known = |t: &str| self.tenants.iter().any(|c| c.name == t);
        let named = self
            .auth
            .api_keys
            .iter()
            .map(|k| ("[[auth.api_keys]]", k.name.as_str(), k.tenant.as_deref()))
            .chain(self.auth.client_certs.iter().map(|c| {
                (
                    "[[auth.client_certs]]",
                    c.common_name.as_str(),
                    c.tenant.as_deref(),
                )
            }));
        for (key, who, tenant) in named {
            if let Some(t) = tenant
                && !known(t)
            {
                return Err(bad(
                    key,
                    format!("'{who}' names tenant '{t}', which is not one of the [[tenants]]"),
                ));
            }
        }
        Ok(())
    }

    fn validate_server(&self) -> Result<(), InvalidSetting> {
        let s = &self.server;
        size("[server] max_body", s.max_body, 1, 4 * GIB)?;
        size("[server] max_decoded", s.max_decoded, 1, 64 * GIB)?;
        size(
            "[server] max_inflight_body",
            s.max_inflight_body,
            s.max_body.0,
            1 << 40,
        )
        .map_err(|e| {
            bad(
                &e.key,
                format!("{}; it must hold at least one max_body", e.problem),
            )
        })?;
        if let Some(peer) = s.max_inflight_body_per_peer {
            size(
                "[server] max_inflight_body_per_peer",
                peer,
                64 * KIB,
                s.max_inflight_body.0,
            )?;
        }
        if let Some(conn) = s.max_inflight_body_per_connection {
            size(
                "[server] max_inflight_body_per_connection",
                conn,
                64 * KIB,
                s.peer_memory().0,
            )?;
        }
        duration(
            "[server] budget_wait",
            s.budget_wait,
            Duration::ZERO,
            Duration::from_secs(60),
        )?;
        duration(
            "[server] header_read_timeout",
            s.header_read_timeout,
            10 * MS,
            Duration::from_secs(3600),
        )?;
        duration(
            "[server] body_read_timeout",
            s.body_read_timeout,
            10 * MS,
            Duration::from_secs(3600),
        )?;
        duration(
            "[server] body_idle_timeout",
            s.body_idle_timeout,
            10 * MS,
            Duration::from_secs(3600),
        )?;
        size("[server] body_min_rate", s.body_min_rate, 0, GIB)?;
        duration("[server] idle_timeout", s.idle_timeout, 10 * MS, LONGEST)?;
        duration(
            "[server] shutdown_timeout",
            s.shutdown_timeout,
            Duration::ZERO,
            Duration::from_secs(3600),
        )?;
        count(
            "[server] max_connections",
            u64::from(s.max_connections),
            1,
            1_000_000,
        )?;
        count(
            "[server] max_connections_per_peer",
            u64::from(s.max_connections_per_peer),
            1,
            u64::from(s.max_connections),
        )?;
        Ok(())
    }

    fn validate_admin(&self) -> Result<(), InvalidSetting> {
        let a = &self.admin;
        size("[admin] max_upload", a.max_upload, 1, 16 * GIB)?;
        duration(
            "[admin] upload_timeout",
            a.upload_timeout,
            10 * MS,
            Duration::from_secs(24 * 3600),
        )?;
        count(
            "[admin] max_connections",
            u64::from(a.max_connections),
            1,
            100_000,
        )?;
        count(
            "[admin] max_connections_per_peer",
            u64::from(a.max_connections_per_peer),
            1,
            u64::from(a.max_connections),
        )?;
        duration("[admin] idle_timeout", a.idle_timeout, 10 * MS, LONGEST)?;
        for (key, token) in [
            ("[admin] token", &a.token),
            ("[admin] metrics_token", &a.metrics_token),
        ] {
            if let Some(t) = token
                && !t.is_empty()
                && t.len() < 16
            {
                return Err(bad(
                    key,
                    "a token must be at least 16 characters (try: openssl rand -hex 32)",
                ));
            }
        }
        if a.metrics_token.is_some() && a.metrics_token == a.token {
            return Err(bad(
                "[admin] metrics_token",
                "must differ from the admin token: it is the read-only one",
            ));
        }
        Ok(())
    }
}

/// Checks `[model_defaults]`; a model's own limits are checked when it
/// loads.
fn validate_defaults(d: &ModelDefaults, max_memory: ByteSize) -> Result<(), InvalidSetting> {
    size("[model_defaults] memory", d.memory, 64 * KIB, max_memory.0).map_err(|e| {
        bad(
            &e.key,
            format!("{} ([runtime] max_memory is the ceiling)", e.problem),
        )
    })?;
    duration(
        "[model_defaults] deadline",
        d.deadline,
        MS,
        Duration::from_secs(3600),
    )?;
    count(
        "[model_defaults] pool_size",
        u64::from(d.pool_size),
        0,
        4096,
    )?;
    count(
        "[model_defaults] max_uses",
        u64::from(d.max_uses),
        1,
        u64::from(u32::MAX),
    )?;
    count(
        "[model_defaults] max_concurrency",
        u64::from(d.max_concurrency),
        1,
        65_536,
    )?;
    size(
        "[model_defaults] max_response",
        d.max_response,
        KIB,
        4 * GIB,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml_text: &str) -> Result<(), InvalidSetting> {
        let cfg: ServeConfig = toml::from_str(toml_text).expect("parses");
        cfg.validate()
    }

    #[test]
    fn defaults_are_valid() {
        ServeConfig::default().validate().expect("the defaults");
    }

    #[test]
    fn refuses_values_that_would_panic_or_overflow() {
        for (text, key) in [
            ("[state]\nguard_interval = \"0s\"", "[state] guard_interval"),
            (
                "[server]\nbody_read_timeout = \"99999999999h\"",
                "[server] body_read_timeout",
            ),
            ("[server]\nmax_connections = 0", "[server] max_connections"),
            (
                "[server]\nmax_inflight_body = \"1MiB\"",
                "[server] max_inflight_body",
            ),
            ("[runtime]\nepoch_tick = \"0s\"", "[runtime] epoch_tick"),
            (
                "[model_defaults]\nmemory = \"2GiB\"",
                "[model_defaults] memory",
            ),
            (
                "[telemetry]\ntrace_sample_ratio = 2.0",
                "[telemetry] trace_sample_ratio",
            ),
            ("[admin]\ntoken = \"short\"", "[admin] token"),
            (
                "[[auth.api_keys]]\nname = \"k\"\nsha256 = \"x\"\ntenant = \"nobody\"\n[[tenants]]\nname = \"acme\"",
                "[[auth.api_keys]]",
            ),
        ] {
            let err = check(text).expect_err(text);
            assert_eq!(err.key, key, "{text}: {err}");
        }
        // Polling off is allowed; a 1 ms poll is not.
        check("[repository]\npoll_interval = \"0s\"").expect("off");
        assert!(check("[repository]\npoll_interval = \"1ms\"").is_err());
    }
}
