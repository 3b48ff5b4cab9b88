//! Human-friendly units for configuration: byte sizes (`"64MiB"`) and
//! durations (`"250ms"`), accepted from TOML, flags and the environment.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A size in bytes, written as `1024`, `"512KiB"`, `"64MiB"`, `"1GiB"` (or
/// the decimal `KB`/`MB`/`GB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// A duration, written as `"250ms"`, `"2s"`, `"1m"`, `"500us"` (a bare
/// number means seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

/// A value that could not be read as a size or a duration.
#[derive(Debug, thiserror::Error)]
#[error("invalid {what} {input:?}: expected {expected}")]
pub struct UnitError {
    what: &'static str,
    input: String,
    expected: &'static str,
}

fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    (s[..end].trim(), s[end..].trim())
}

impl ByteSize {
    /// The size in bytes as `usize`, saturating on 32-bit targets.
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || UnitError {
            what: "byte size",
            input: s.to_string(),
            expected: "a number with an optional unit B, KiB, MiB, GiB, KB, MB or GB",
        };
        let (num, unit) = split_number(s.trim());
        let value: f64 = num.parse().map_err(|_| err())?;
        let factor: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            _ => return Err(err()),
        };
        let bytes = value * factor as f64;
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
            return Err(err());
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b >= 1 << 30 && b.is_multiple_of(1 << 30) {
            write!(f, "{}GiB", b >> 30)
        } else if b >= 1 << 20 && b.is_multiple_of(1 << 20) {
            write!(f, "{}MiB", b >> 20)
        } else if b >= 1 << 10 && b.is_multiple_of(1 << 10) {
            write!(f, "{}KiB", b >> 10)
        } else {
            write!(f, "{b}B")
        }
    }
}

impl FromStr for HumanDuration {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || UnitError {
            what: "duration",
            input: s.to_string(),
            expected: "a number with a unit us, ms, s, m or h",
        };
        let (num, unit) = split_number(s.trim());
        let value: f64 = num.parse().map_err(|_| err())?;
        let secs = match unit {
            "" | "s" => value,
            "us" | "µs" => value / 1e6,
            "ms" => value / 1e3,
            "m" | "min" => value * 60.0,
            "h" => value * 3600.0,
            _ => return Err(err()),
        };
        Duration::try_from_secs_f64(secs)
            .map(HumanDuration)
            .map_err(|_| err())
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{}s", d.as_secs())
        } else if d.as_nanos().is_multiple_of(1_000_000) {
            write!(f, "{}ms", d.as_millis())
        } else {
            write!(f, "{}us", d.as_micros())
        }
    }
}

/// Accepts either a string with a unit or a bare integer.
#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Int(u64),
    Float(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Float(f) => Err(serde::de::Error::custom(format!(
                "invalid byte size {f}: use a whole number or a string such as \"64MiB\""
            ))),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(HumanDuration(Duration::from_secs(n))),
            Raw::Float(f) => Duration::try_from_secs_f64(f)
                .map(HumanDuration)
                .map_err(serde::de::Error::custom),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!("64MiB".parse::<ByteSize>().unwrap().0, 64 << 20);
        assert_eq!("1 GiB".parse::<ByteSize>().unwrap().0, 1 << 30);
        assert_eq!("10kb".parse::<ByteSize>().unwrap().0, 10_000);
        assert_eq!("4096".parse::<ByteSize>().unwrap().0, 4096);
        assert!("12 parsecs".parse::<ByteSize>().is_err());
        assert!("-1MiB".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize(64 << 20).to_string(), "64MiB");
    }

    #[test]
    fn parses_durations() {
        assert_eq!(
            "250ms".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(250)
        );
        assert_eq!(
            "2s".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(2)
        );
        assert_eq!(
            "1.5".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(1500)
        );
        assert!("soon".parse::<HumanDuration>().is_err());
        assert_eq!(
            HumanDuration(Duration::from_millis(250)).to_string(),
            "250ms"
        );
    }

    #[test]
    fn deserializes_from_toml() {
        #[derive(Deserialize)]
        struct T {
            a: ByteSize,
            b: HumanDuration,
            c: ByteSize,
        }
        let t: T = toml::from_str("a = \"1MiB\"\nb = \"10ms\"\nc = 12").unwrap();
        assert_eq!(t.a.0, 1 << 20);
        assert_eq!(t.b.0, Duration::from_millis(10));
        assert_eq!(t.c.0, 12);
    }
}
