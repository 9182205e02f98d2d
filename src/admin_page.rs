//! The operator's page, `GET /admin`: one self-contained HTML page with its script and style,
//! compiled into the Worker (no external scripts, fonts or CDNs) and served with a strict
//! Content-Security-Policy. The page itself holds no secret; it asks the operator for the admin
//! token and calls the control API of its own origin with it.

use worker::{Response, Result};

/// The page's paths and what each serves.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/admin",
        "text/html; charset=utf-8",
        include_str!("../assets/admin/index.html"),
    ),
    (
        "/admin/admin.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/admin/admin.js"),
    ),
    (
        "/admin/subscriptions.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/admin/subscriptions.js"),
    ),
    (
        "/admin/admin.css",
        "text/css; charset=utf-8",
        include_str!("../assets/admin/admin.css"),
    ),
];

/// Only this origin's script, style and API; no frames, no forms posted elsewhere, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(path: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    let path = if path == "/admin/" { "/admin" } else { path };
    ASSETS.iter().find(|(p, _, _)| *p == path)
}

/// The file at `path` with its security headers, or `None` when the page has no such file.
pub fn serve(path: &str) -> Option<Result<Response>> {
    let (_, content_type, body) = asset(path)?;
    Some(Response::ok(*body).and_then(|response| {
        let headers = response.headers();
        headers.set("content-type", content_type)?;
        headers.set("content-security-policy", CONTENT_SECURITY_POLICY)?;
        headers.set("x-content-type-options", "nosniff")?;
        headers.set("referrer-policy", "no-referrer")?;
        headers.set("cache-control", "no-cache")?;
        Ok(response)
    }))
}
