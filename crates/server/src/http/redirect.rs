//! The plain-HTTP listener of `http_redirect_addr`: every request is sent on, with a
//! permanent redirect, to the same path and query over HTTPS on the HTTP port.

use axum::Router;
use axum::http::uri::Authority;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// Answers every request with a redirect to HTTPS on `https_port`.
pub fn router(https_port: u16) -> Router {
    Router::new().fallback(move |headers: HeaderMap, uri: Uri| async move {
        redirect(https_port, &headers, &uri)
    })
}

fn redirect(https_port: u16, headers: &HeaderMap, uri: &Uri) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.contains('@'))
        .and_then(|h| h.parse::<Authority>().ok());
    let Some(host) = host else {
        let sentence = "This address only sends visitors on to HTTPS, and needs a Host header to.";
        return (StatusCode::BAD_REQUEST, sentence).into_response();
    };
    let place = match https_port {
        443 => host.host().to_owned(),
        port => format!("{}:{port}", host.host()),
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("https://{place}{path}");
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(port: u16, host: Option<&str>, uri: &str) -> (StatusCode, Option<String>) {
        let mut headers = HeaderMap::new();
        if let Some(host) = host {
            headers.insert(header::HOST, host.parse().unwrap());
        }
        let answer = redirect(port, &headers, &uri.parse().unwrap());
        let location = answer
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        (answer.status(), location)
    }

    #[test]
    fn a_request_goes_on_to_the_same_path_over_https() {
        let to = |host, uri| location(443, Some(host), uri).1.unwrap();
        assert_eq!(
            to("meet.example.org", "/r/team?name=Ada"),
            "https://meet.example.org/r/team?name=Ada"
        );
        assert_eq!(to("meet.example.org:80", "/"), "https://meet.example.org/");
        assert_eq!(
            to("[2001:db8::1]:80", "/healthz"),
            "https://[2001:db8::1]/healthz"
        );
        assert_eq!(
            location(8443, Some("127.0.0.1:8080"), "/r/x").1.unwrap(),
            "https://127.0.0.1:8443/r/x"
        );
        assert_eq!(
            location(443, Some("a"), "/").0,
            StatusCode::PERMANENT_REDIRECT
        );
    }

    #[test]
    fn a_request_without_a_usable_host_is_refused() {
        assert_eq!(location(443, None, "/").0, StatusCode::BAD_REQUEST);
        assert_eq!(
            location(443, Some("evil.example/path"), "/").0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            location(443, Some("user@evil.example"), "/").0,
            StatusCode::BAD_REQUEST
        );
    }
}
