//! The `dashboard` plugin: one page for the people who run the host, at `GET /`. It is plain
//! HTML, CSS and JavaScript embedded in the binary (no CDN, no build step), and it talks only
//! to the documented REST API, with the credentials the person signs in with, sent by the page
//! in the `Authorization` header. A build without this plugin has neither the page nor its
//! assets.
//!
//! Every answer of the page carries a Content-Security-Policy that allows scripts, styles and
//! connections to this origin only (no inline script), and refuses framing.

use bw_api::registry::HttpRoute;
use poem::http::{header, Method};
use poem::{Endpoint, EndpointExt, Response};

const INDEX: &str = include_str!("../assets/index.html");
const SCRIPT: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/app.css");
const ICON: &str = include_str!("../assets/favicon.svg");

/// Scripts, styles, images and API calls from this origin only; no plugin, no framing, no
/// `<base>` rewriting, forms post here only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const READ: &[Method] = &[Method::GET, Method::HEAD];

fn asset(content_type: &'static str, body: &'static str, cache: &'static str) -> impl Endpoint<Output = Response> {
    poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type(content_type)
            .header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)
            .header(header::X_FRAME_OPTIONS, "DENY")
            .header(header::REFERRER_POLICY, "no-referrer")
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(header::CACHE_CONTROL, cache)
            .body(body)
    })
}

fn routes() -> Vec<HttpRoute> {
    // The page is checked again at each load (a new server version brings new assets); the
    // assets are named by this version in the page, so they may be kept.
    let route = |path: &'static str, content_type: &'static str, body: &'static str| HttpRoute {
        path,
        methods: READ,
        endpoint: asset(content_type, body, "no-cache").boxed(),
    };
    vec![
        route("/", "text/html; charset=utf-8", INDEX),
        route("/dashboard/app.js", "text/javascript; charset=utf-8", SCRIPT),
        route("/dashboard/app.css", "text/css; charset=utf-8", STYLE),
        route("/dashboard/favicon.svg", "image/svg+xml", ICON),
    ]
}

bw_api::http_plugin!("dashboard", routes);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_no_inline_script_or_style_and_loads_only_its_own_assets() {
        // CSP refuses inline code: the page must not rely on any.
        assert!(!INDEX.contains("<script>") && !INDEX.contains("onclick") && !INDEX.contains("style="));
        for src in ["/dashboard/app.js", "/dashboard/app.css", "/dashboard/favicon.svg"] {
            assert!(INDEX.contains(src), "{src}");
        }
        assert!(!INDEX.contains("http://") && !INDEX.contains("https://"), "no resource from elsewhere");
        assert!(!SCRIPT.contains("innerHTML"), "text from the API is set as text, never parsed as HTML");
    }
}
