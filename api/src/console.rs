//! The web console at `/` and the GraphQL explorer at `/explorer`.
//!
//! Static files compiled into the binary (no CDN: it works offline). The
//! console is a client of the public GraphQL API and subscriptions only —
//! it holds no privileges of its own, and what it hides (buttons a member
//! may not use) the API refuses anyway. Sources are in `api/console/`;
//! `vendor/` holds GraphiQL and React as published on npm (see its README).

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $file:literal, $ty:expr) => {
        Asset { path: $path, content_type: $ty, body: include_bytes!(concat!("../console/", $file)) }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("/", "index.html", HTML),
    asset!("/explorer", "explorer.html", HTML),
    asset!("/console/app.js", "app.js", JS),
    asset!("/console/style.css", "style.css", CSS),
    asset!("/console/explorer.js", "explorer.js", JS),
    asset!("/console/vendor/react.production.min.js", "vendor/react.production.min.js", JS),
    asset!("/console/vendor/react-dom.production.min.js", "vendor/react-dom.production.min.js", JS),
    asset!("/console/vendor/graphiql.min.js", "vendor/graphiql.min.js", JS),
    asset!("/console/vendor/graphiql.min.css", "vendor/graphiql.min.css", CSS),
];

/// Routes for every embedded file.
pub fn router() -> Router {
    ASSETS.iter().fold(Router::new(), |router, asset| router.route(asset.path, get(move || serve(asset))))
}

async fn serve(asset: &'static Asset) -> Response {
    let mut response = (StatusCode::OK, asset.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    // Pages may only load what this server serves and talk to it alone.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; font-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
