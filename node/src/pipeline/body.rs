//! Reading a request body within its limits: size, total time, the gap
//! between two pieces, and a minimum average rate; every piece is counted
//! in the request's memory as it arrives, never before. The one
//! size-limited reader of the data plane's front-ends and the admin API.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::Body;

use super::{ApiError, RequestMemory};
use crate::units::ByteSize;

/// The limits on receiving one body.
#[derive(Clone, Debug)]
pub struct BodyRules {
    /// Largest body, in bytes.
    pub max_body: usize,
    /// Time to receive the whole body, from when the request started.
    pub read_timeout: Duration,
    /// Longest gap between two pieces (and the grace before the rate
    /// counts).
    pub idle_timeout: Duration,
    /// Slowest average rate, bytes per second, after the grace.
    pub min_rate: u64,
    /// The settings that set `max_body` and `read_timeout`, named in
    /// refusals (e.g. `[server] max_body`).
    pub keys: (&'static str, &'static str),
}

/// Which limit a slow body ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slow {
    Total,
    Gap,
    Rate,
}

impl BodyRules {
    /// When the next piece must have arrived, and which rule says so.
    fn next_deadline(
        &self,
        started: Instant,
        body_start: Instant,
        last: Instant,
        received: u64,
    ) -> (Instant, Slow) {
        let mut deadline = (started + self.read_timeout, Slow::Total);
        let gap = last + self.idle_timeout;
        if gap < deadline.0 {
            deadline = (gap, Slow::Gap);
        }
        if self.min_rate > 0 {
            // At `t`, at least `min_rate * (t - start - grace)` bytes must be
            // in: `received` bytes last until this moment.
            let covered = Duration::from_secs_f64(received as f64 / self.min_rate as f64);
            let rate = body_start + self.idle_timeout + covered;
            if rate < deadline.0 {
                deadline = (rate, Slow::Rate);
            }
        }
        deadline
    }

    fn too_slow(&self, why: Slow) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            match why {
                Slow::Total => format!(
                    "request body not received within {:?} ({})",
                    self.read_timeout, self.keys.1
                ),
                Slow::Gap => format!(
                    "no piece of the request body arrived for {:?} ([server] body_idle_timeout)",
                    self.idle_timeout
                ),
                Slow::Rate => format!(
                    "the request body arrived slower than {}/s ([server] body_min_rate)",
                    ByteSize(self.min_rate)
                ),
            },
        )
    }

    /// The refusal of a body (or message) larger than `max_body`.
    pub(crate) fn too_large(&self) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body is larger than the {} limit ({})",
                ByteSize(self.max_body as u64),
                self.keys.0
            ),
        )
    }

    /// Reads a whole body (whose request started at `started`), counting
    /// each piece in `memory` as it arrives.
    pub(crate) async fn read<B>(
        &self,
        body: B,
        declared: Option<u64>,
        started: Instant,
        memory: &mut RequestMemory<'_>,
        tenant: Option<&str>,
    ) -> Result<Bytes, ApiError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if declared.is_some_and(|len| len > self.max_body as u64) {
            return Err(self.too_large());
        }
        let body_start = Instant::now();
        let mut last = body_start;
        let mut received = 0u64;
        let mut pieces: Vec<Bytes> = Vec::new();
        tokio::pin!(body);
        loop {
            let (deadline, why) = self.next_deadline(started, body_start, last, received);
            let frame = match tokio::time::timeout_at(deadline.into(), body.frame()).await {
                Err(_) => return Err(self.too_slow(why)),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    let e: Box<dyn std::error::Error + Send + Sync> = e.into();
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("cannot read request body: {e}"),
                    ));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers carry nothing we use
            };
            if data.is_empty() {
                continue;
            }
            let len = data.len() as u64;
            if received + len > self.max_body as u64 {
                return Err(self.too_large());
            }
            memory.grow(len, tenant).await?;
            received += len;
            pieces.push(data);
            last = Instant::now();
        }
        Ok(match pieces.len() {
            0 => Bytes::new(),
            1 => pieces.swap_remove(0),
            _ => {
                // Joining holds the pieces and the whole at once: counted
                // while it lasts.
                memory.grow(received, tenant).await?;
                let mut all = BytesMut::with_capacity(received as usize);
                for piece in pieces {
                    all.extend_from_slice(&piece);
                }
                memory.shrink(received);
                all.freeze()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> BodyRules {
        BodyRules {
            max_body: 1 << 20,
            read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(5),
            min_rate: 1000,
            keys: ("[server] max_body", "[server] body_read_timeout"),
        }
    }

    #[test]
    fn the_nearest_limit_sets_the_deadline() {
        let r = rules();
        let t0 = Instant::now();
        // Just started: the gap (5 s) and the grace (5 s) coincide.
        let (d, _) = r.next_deadline(t0, t0, t0, 0);
        assert_eq!(d, t0 + Duration::from_secs(5));
        // 4 s in, 1000 bytes received at 4 s: the rate allows until 5 + 1 s,
        // the gap until 9 s.
        let four = t0 + Duration::from_secs(4);
        let (d, why) = r.next_deadline(t0, t0, four, 1000);
        assert_eq!((d, why), (t0 + Duration::from_secs(6), Slow::Rate));
        // Plenty received: the gap decides; near the end, the total.
        let (_, why) = r.next_deadline(t0, t0, four, 1_000_000);
        assert_eq!(why, Slow::Gap);
        let late = t0 + Duration::from_secs(28);
        let (d, why) = r.next_deadline(t0, t0, late, 1_000_000);
        assert_eq!((d, why), (t0 + Duration::from_secs(30), Slow::Total));
    }
}
