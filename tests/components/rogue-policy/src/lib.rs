//! A policy filter that misbehaves on purpose, for the host's tests.
//!
//! The mode comes from the request's text parameter `policy_mode`, else
//! config `mode` (default `allow`). Config `stage` (`request`, `response` or
//! `both`, the default; anything else counts as `both`) says which hook the
//! mode applies in; the other hook allows. Modes:
//!
//! - `allow`: allows;
//! - `deny`: denies with config `status` (default 403; 500 if unparsable)
//!   and reason `rogue says no`;
//! - `loop`: never returns;
//! - `trap`: panics (`rogue trap`);
//! - `alloc`: allocates 1 MiB blocks until memory runs out;
//! - `huge`: rewrites with a 64 MiB FP32 tensor of zeros, shape
//!   `[16777216]`, named like the first input (output), else `x` (`y`);
//! - `bad-status`: denies with status 200;
//! - `bad-rewrite`: rewrites with an FP32 tensor of 3 values and shape
//!   `[4]`, named like the first input (output);
//! - `double`: doubles every FP32 input (request hook) or output (response
//!   hook);
//! - `tag`: request hook logs `rogue saw tenant=… principal=… method=…
//!   model=…@… headers=name=value,… client=…` and allows; response hook
//!   allows.
//!
//! Any other mode is denied with 500.

use edgeserve_guest::ParamValue;
use edgeserve_guest::{Context, Policy, Request, Response, Verdict, config, log};

/// The policy.
struct Rogue;

/// Elements of the `huge` tensor: 64 MiB of FP32.
const HUGE: usize = 16 * 1024 * 1024;

/// Which hook is running.
#[derive(Clone, Copy, PartialEq)]
enum Hook {
    /// `on-request`.
    Request,
    /// `on-response`.
    Response,
}

/// The mode in force for `hook`.
fn mode(request: &Request, hook: Hook) -> String {
    let applies = match config::get("stage").as_deref() {
        Some("request") => hook == Hook::Request,
        Some("response") => hook == Hook::Response,
        _ => true,
    };
    if !applies {
        return "allow".to_string();
    }
    match request.parameter("policy_mode") {
        Some(ParamValue::Text(mode)) => mode.clone(),
        _ => config::get("mode").unwrap_or_else(|| "allow".to_string()),
    }
}

/// The modes that act the same in both hooks; `None` for the others.
fn common<T>(mode: &str) -> Option<Verdict<T>> {
    Some(match mode {
        "allow" => Verdict::Allow,
        "deny" => Verdict::deny(
            config::parse_or("status", 403).unwrap_or(500),
            "rogue says no",
        ),
        "bad-status" => Verdict::deny(200, "rogue says ok"),
        "trap" => panic!("rogue trap"),
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "alloc" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        _ => return None,
    })
}

/// The context, on one line, for tests to check.
fn tag(ctx: &Context) -> String {
    let headers: Vec<String> = ctx
        .headers
        .iter()
        .map(|h| format!("{}={}", h.name, h.value))
        .collect();
    format!(
        "rogue saw tenant={} principal={} method={} model={}@{} headers={} client={}",
        ctx.tenant.as_deref().unwrap_or("-"),
        ctx.principal.as_deref().unwrap_or("-"),
        ctx.auth_method.name(),
        ctx.model,
        ctx.version,
        headers.join(","),
        ctx.client_address,
    )
}

/// The refusal for a mode this policy does not know.
fn unknown<T>(mode: &str) -> Verdict<T> {
    Verdict::deny(500, format!("rogue: unknown mode '{mode}'"))
}

impl Policy for Rogue {
    fn on_request(ctx: &Context, request: &Request) -> Verdict<Request> {
        let mode = mode(request, Hook::Request);
        if let Some(verdict) = common(&mode) {
            return verdict;
        }
        let first = request.inputs().next().map_or("x", |t| t.name());
        match mode.as_str() {
            "huge" => Verdict::Rewrite(request.clone().with_tensor(
                first,
                vec![HUGE as i64],
                vec![0f32; HUGE],
            )),
            "bad-rewrite" => {
                Verdict::Rewrite(request.clone().with_tensor(first, vec![4], vec![1f32; 3]))
            }
            "double" => Verdict::Rewrite(
                request
                    .inputs()
                    .filter_map(|t| Some((t.name(), t.typed::<f32>()?)))
                    .fold(request.clone(), |r, (name, t)| {
                        r.with_tensor(name, t.shape, t.data.iter().map(|v| v * 2.0).collect())
                    }),
            ),
            "tag" => {
                log::info(&tag(ctx));
                Verdict::Allow
            }
            other => unknown(other),
        }
    }

    fn on_response(_ctx: &Context, request: &Request, response: &Response) -> Verdict<Response> {
        let mode = mode(request, Hook::Response);
        if let Some(verdict) = common(&mode) {
            return verdict;
        }
        let first = response.outputs().next().map_or("y", |t| t.name());
        match mode.as_str() {
            "huge" => Verdict::Rewrite(response.clone().tensor(
                first,
                vec![HUGE as i64],
                vec![0f32; HUGE],
            )),
            "bad-rewrite" => {
                Verdict::Rewrite(response.clone().tensor(first, vec![4], vec![1f32; 3]))
            }
            "double" => Verdict::Rewrite(
                response
                    .outputs()
                    .filter_map(|t| Some((t.name(), t.typed::<f32>()?)))
                    .fold(response.clone(), |r, (name, t)| {
                        r.tensor(name, t.shape, t.data.iter().map(|v| v * 2.0).collect())
                    }),
            ),
            "tag" => Verdict::Allow,
            other => unknown(other),
        }
    }
}

edgeserve_guest::export_policy!(Rogue);
