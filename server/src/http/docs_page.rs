//! The Swagger UI page at `/docs`. People type tokens into it, so it gets the dashboard's
//! protections: it cannot be framed by another site, sends no referrer, and its
//! Content-Security-Policy lets only its own inline scripts run. poem-openapi embeds Swagger
//! UI's script in the page (it works offline), so `script-src` names each inline script by its
//! SHA-256 rather than allowing inline script in general; an injected one has another hash.

use base64::Engine;
use poem::http::header;
use poem::Response;
use sha2::{Digest, Sha256};

/// The page and its policy, built once at the first request.
pub(super) struct DocsPage {
    html: bytes::Bytes,
    policy: String,
}

impl DocsPage {
    pub(super) fn new(html: String) -> Self {
        let hashes: Vec<String> = inline_scripts(&html)
            .map(|s| format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s))))
            .collect();
        // Swagger UI styles itself with inline <style> and style attributes, shows data: icons,
        // and "Try it out" calls this origin.
        let policy = format!(
            "default-src 'none'; script-src {}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            hashes.join(" ")
        );
        DocsPage { html: bytes::Bytes::from(html), policy }
    }

    pub(super) fn response(&self) -> Response {
        Response::builder()
            .content_type("text/html; charset=utf-8")
            .header(header::CONTENT_SECURITY_POLICY, self.policy.as_str())
            .header(header::X_FRAME_OPTIONS, "DENY")
            .header(header::REFERRER_POLICY, "no-referrer")
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .body(self.html.clone())
    }
}

/// The text of each inline `<script>` element, as the browser hashes it: from the end of the
/// opening tag to the first `</script` (HTML ends script data there, whatever the script's
/// own strings hold).
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    let mut rest = html;
    std::iter::from_fn(move || {
        let open = rest.find("<script")?;
        let after_open = &rest[open..];
        let body_start = after_open.find('>')? + 1;
        let tag = &after_open[..body_start];
        let body = &after_open[body_start..];
        let end = body.find("</script")?;
        rest = &body[end..];
        // A script with a src is not inline; none is expected, and none would be allowed.
        Some(if tag.contains(" src=") { "" } else { &body[..end] })
    })
    .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_inline_script_is_named_by_its_hash_and_nothing_else_may_run() {
        let page = DocsPage::new(
            "<html><script>var a = \"<script>x</script\";</script><script src=\"/x.js\"></script><script>b()</script>"
                .into(),
        );
        let hash =
            |s: &str| format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s)));
        assert!(
            page.policy.contains(&format!("script-src {} {};", hash("var a = \"<script>x"), hash("b()"))),
            "{}",
            page.policy
        );
        assert!(!page.policy.contains("unsafe-inline'; img") || !page.policy.contains("script-src 'unsafe-inline'"));
        assert!(page.policy.contains("frame-ancestors 'none'"));
    }
}
