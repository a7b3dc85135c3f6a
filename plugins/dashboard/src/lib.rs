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
const STYLE: &str = include_str!("../assets/app.css");
const ICON: &str = include_str!("../assets/favicon.svg");
/// The repository icons (Tabler's, MIT: `assets/icons.LICENSE`), one `<symbol>` each.
const REPOSITORY_ICONS: &str = include_str!("../assets/icons.svg");

/// The page's script modules, each a concern of its own (see `assets/app.js`), loaded by the
/// browser from these paths: `app.js` imports the others.
const MODULES: &[(&str, &str)] = &[
    ("/dashboard/app.js", include_str!("../assets/app.js")),
    ("/dashboard/api.js", include_str!("../assets/api.js")),
    ("/dashboard/dom.js", include_str!("../assets/dom.js")),
    ("/dashboard/chart.js", include_str!("../assets/chart.js")),
    ("/dashboard/guide.js", include_str!("../assets/guide.js")),
    ("/dashboard/repos.js", include_str!("../assets/repos.js")),
    ("/dashboard/repo.js", include_str!("../assets/repo.js")),
    ("/dashboard/forms.js", include_str!("../assets/forms.js")),
    ("/dashboard/monitor.js", include_str!("../assets/monitor.js")),
    ("/dashboard/admin.js", include_str!("../assets/admin.js")),
    ("/dashboard/alert_settings.js", include_str!("../assets/alert_settings.js")),
    ("/dashboard/icons.js", include_str!("../assets/icons.js")),
    ("/dashboard/repo_icon.js", include_str!("../assets/repo_icon.js")),
    ("/dashboard/people.js", include_str!("../assets/people.js")),
];

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
    // Every asset, the page and its modules alike, is checked again at each load (`no-cache`):
    // their names carry no version, so a new server's page must never meet an old module kept
    // in a browser's cache.
    let route = |path: &'static str, content_type: &'static str, body: &'static str| HttpRoute {
        path,
        methods: READ,
        endpoint: asset(content_type, body, "no-cache").boxed(),
    };
    let mut routes = vec![
        route("/", "text/html; charset=utf-8", INDEX),
        route("/dashboard/app.css", "text/css; charset=utf-8", STYLE),
        route("/dashboard/favicon.svg", "image/svg+xml", ICON),
        route("/dashboard/icons.svg", "image/svg+xml", REPOSITORY_ICONS),
    ];
    routes.extend(MODULES.iter().map(|(path, body)| route(path, "text/javascript; charset=utf-8", body)));
    routes
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
        for (path, script) in MODULES {
            for risky in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
                assert!(!script.contains(risky), "{path}: {risky}: text from the API is set as text, never parsed");
            }
            // The SVG namespace is a name, not an address.
            let addresses = script.replace("\"http://www.w3.org/2000/svg\"", "");
            assert!(!addresses.contains("http://") && !addresses.contains("https://"), "{path} loads from elsewhere");
        }
    }

    #[test]
    fn every_icon_the_picker_offers_is_drawn() {
        let offered = MODULES.iter().find(|(p, _)| *p == "/dashboard/icons.js").unwrap().1;
        let names: Vec<&str> = offered.split('"').filter(|w| w.starts_with("Icon")).collect();
        assert_eq!(names.len(), 70, "BorgWarehouse 3.6 offers 70");
        for name in names {
            assert!(REPOSITORY_ICONS.contains(&format!("<symbol id=\"{name}\"")), "{name} is not in icons.svg");
        }
    }

    #[test]
    fn every_module_imported_is_served() {
        let served: Vec<&str> = MODULES.iter().map(|(p, _)| p.trim_start_matches("/dashboard/")).collect();
        for (path, script) in MODULES {
            for line in script.lines().filter(|l| l.starts_with("import ")) {
                let Some(from) = line.split("from \"./").nth(1) else { continue };
                let module = from.split('"').next().unwrap();
                assert!(served.contains(&module), "{path} imports {module}, which is not served");
            }
        }
    }
}
