//! Checks every admin request passes before its token is even looked at:
//! it must name this node (a `Host` that is an IP address, `localhost` or
//! a configured name), must not come from a web page of another origin
//! (an `Origin` must be exactly the request's own host and port: the admin
//! API serves no pages, so in practice any browser request is refused),
//! and a change must carry a JSON body type. A browser on the node, or a
//! page that rebinds its DNS name to the node, can then never roll back a
//! model: it cannot send JSON cross-origin without a preflight this API
//! never answers, nor name the node by its own host name.

use http::{HeaderMap, Method, StatusCode, Uri, header};

/// Why a request was refused before authentication.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refused {
    /// 403, or 415 for a change without a JSON content type.
    pub(crate) status: StatusCode,
    /// What to tell the caller.
    pub(crate) message: String,
}

fn refused(status: StatusCode, message: String) -> Refused {
    Refused { status, message }
}

/// The host part of a `Host` value or an origin's authority (brackets of
/// an IPv6 literal removed, port dropped).
pub(crate) fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// Whether a host name names this node: an IP literal, `localhost`, or one
/// of the configured names.
fn is_this_node(host: &str, allowed: &[String]) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
        || host.eq_ignore_ascii_case("localhost")
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
}

/// Checks the request's target host, origin and (for a change) content
/// type.
pub(crate) fn check(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    allowed_hosts: &[String],
) -> Result<(), Refused> {
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(http::uri::Authority::as_str))
    else {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "a request must name the host it is for (Host)".into(),
        ));
    };
    if !is_this_node(host_name(host), allowed_hosts) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            format!(
                "Host '{}' does not name this node's admin API; call it by IP address or \
                 localhost, or list the name in [admin] allowed_hosts",
                crate::text::bounded(host, 255)
            ),
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let text = origin.to_str().unwrap_or("null");
        let authority = text.split_once("://").map_or(text, |(_, rest)| rest);
        // Same origin only: another service on this node (another port) is
        // another origin, and so is a rebinding name.
        if !authority.eq_ignore_ascii_case(host) {
            return Err(refused(
                StatusCode::FORBIDDEN,
                format!(
                    "requests from web pages of other origins ('{}') are not served",
                    crate::text::bounded(text, 255)
                ),
            ));
        }
    }
    let changes = !matches!(*method, Method::GET | Method::HEAD);
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if changes && !json {
        return Err(refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a change needs Content-Type: application/json".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn names_of_this_node_pass_others_do_not() {
        let uri: Uri = "/admin/v1/models".parse().unwrap();
        let allowed = vec!["edge-7.plant.example".to_string()];
        for host in [
            "127.0.0.1:8082",
            "[::1]:8082",
            "localhost",
            "10.1.2.3",
            "Edge-7.plant.example:8082",
        ] {
            let h = headers(&[("host", host)]);
            assert_eq!(check(&Method::GET, &uri, &h, &allowed), Ok(()), "{host}");
        }
        let h = headers(&[("host", "attacker.example:8082")]);
        let err = check(&Method::GET, &uri, &h, &allowed).unwrap_err();
        assert_eq!(err.status, StatusCode::FORBIDDEN);
        assert!(err.message.contains("allowed_hosts"));
    }

    #[test]
    fn cross_origin_pages_and_non_json_changes_are_refused() {
        let uri: Uri = "/admin/v1/models/iris/rollback".parse().unwrap();
        let h = headers(&[
            ("host", "127.0.0.1:8082"),
            ("origin", "http://attacker.example"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(
            check(&Method::POST, &uri, &h, &[]).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        let h = headers(&[
            ("host", "127.0.0.1:8082"),
            ("origin", "null"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(
            check(&Method::POST, &uri, &h, &[]).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        // Another service on this node is another origin.
        let h = headers(&[
            ("host", "127.0.0.1:8082"),
            ("origin", "http://127.0.0.1:3000"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(
            check(&Method::POST, &uri, &h, &[]).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        // No Host at all: refused.
        let h = headers(&[("content-type", "application/json")]);
        assert_eq!(
            check(&Method::POST, &uri, &h, &[]).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        let h = headers(&[("host", "127.0.0.1:8082"), ("content-type", "text/plain")]);
        assert_eq!(
            check(&Method::POST, &uri, &h, &[]).unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let h = headers(&[
            ("host", "127.0.0.1:8082"),
            ("content-type", "application/json; charset=utf-8"),
        ]);
        assert_eq!(check(&Method::POST, &uri, &h, &[]), Ok(()));
        // Reading needs no body type.
        let h = headers(&[("host", "127.0.0.1:8082")]);
        assert_eq!(check(&Method::GET, &uri, &h, &[]), Ok(()));
    }
}
