//! The web app, client library and example pages, embedded in the binary.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, include_dir};

static WEB: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../web");

/// `/` and `/r/{room}`: the meeting app's page.
pub async fn app() -> Response {
    serve("app/index.html")
}

/// `/watch/{room}`: the page viewers of a broadcast open.
pub async fn watch() -> Response {
    serve("app/watch.html")
}

/// `/app/{path}`.
pub async fn app_file(Path(path): Path<String>) -> Response {
    serve(&format!("app/{path}"))
}

/// `/sdk/{path}`.
pub async fn sdk_file(Path(path): Path<String>) -> Response {
    serve(&format!("sdk/{path}"))
}

/// `/examples/{path}`.
pub async fn example_file(Path(path): Path<String>) -> Response {
    serve(&format!("examples/{path}"))
}

fn serve(path: &str) -> Response {
    let Some(file) = WEB.get_file(path) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let mut response = file.contents().into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_page_is_embedded() {
        assert!(WEB.get_file("app/index.html").is_some());
        assert!(WEB.get_file("sdk/moim.js").is_some());
    }

    #[test]
    fn types_follow_extensions() {
        assert_eq!(content_type("a/b.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("x"), "application/octet-stream");
    }
}
