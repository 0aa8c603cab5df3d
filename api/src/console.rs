//! The web console and the GraphQL explorer at `/explorer`.
//!
//! The console is a Preact application written as plain ES modules in
//! `api/console/` (no build step), compiled into the binary with
//! `include_dir!` so it works offline and without a CDN. It is a client of
//! the public GraphQL API and its subscriptions only — it holds no
//! privileges of its own, and what it hides (buttons a member may not use)
//! the API refuses anyway.
//!
//! Page addresses (`/approvals`, `/requests/<id>`, `/invite/<token>`, …)
//! all answer with `index.html`; the application's router picks the page.
//! Links in e-mails point at them. With `console_dir` set the files are read
//! from that folder on every request instead, for working on the console.

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path as UrlPath;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use include_dir::{Dir, include_dir};
use std::path::PathBuf;
use std::sync::Arc;

/// `api/console/`, as it was when the binary was built.
static CONSOLE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/console");

/// The console's own page addresses: each is answered with `index.html`.
pub const PAGES: &[&str] = &[
    "/",
    "/sign-in",
    "/sign-up",
    "/security",
    "/overview",
    "/approvals",
    "/history",
    "/withdraw",
    "/members",
    "/service-users",
    "/policies",
    "/limits",
    "/addresses",
    "/settings",
    "/risk",
    "/audit",
];

/// Where the files come from.
#[derive(Clone)]
enum Source {
    Embedded,
    Folder(Arc<PathBuf>),
}

impl Source {
    async fn read(&self, path: &str) -> Option<Bytes> {
        match self {
            // Served straight from the binary, never copied.
            Source::Embedded => CONSOLE.get_file(path).map(|f| Bytes::from_static(f.contents())),
            Source::Folder(dir) => {
                // Only plain relative paths: no `..`, no absolute paths.
                let safe =
                    std::path::Path::new(path).components().all(|c| matches!(c, std::path::Component::Normal(_)));
                if !safe {
                    return None;
                }
                tokio::fs::read(dir.join(path)).await.ok().map(Bytes::from)
            }
        }
    }
}

/// Routes for the console's pages, its files under `/console/`, and the explorer.
pub fn router(console_dir: Option<PathBuf>) -> Router {
    let source = match console_dir {
        Some(dir) => Source::Folder(Arc::new(dir)),
        None => Source::Embedded,
    };
    let index = {
        let source = source.clone();
        move || {
            let source = source.clone();
            async move { serve(&source, "index.html").await }
        }
    };
    let mut router = Router::new();
    for page in PAGES {
        router = router.route(page, get(index.clone()));
    }
    let files = source.clone();
    let explorer = source.clone();
    router
        .route("/invite/{token}", get(index.clone()))
        .route("/requests/{id}", get(index))
        .route("/explorer", get(move || async move { serve(&explorer, "explorer.html").await }))
        .route(
            "/console/{*path}",
            get(move |UrlPath(path): UrlPath<String>| {
                let files = files.clone();
                async move { serve(&files, &path).await }
            }),
        )
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("woff2") => "font/woff2",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

async fn serve(source: &Source, path: &str) -> Response {
    let Some(body) = source.read(path).await else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    // Pages may only load what this server serves and talk to it alone.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; font-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
