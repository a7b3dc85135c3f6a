//! What the providers' protocols ([`crate::openid`], [`crate::github`]) share with the flow
//! that calls them ([`crate::flow`]): the pending login they finish, what a start gives and why
//! an answer is refused, the callback address, and the HTTP client they speak through.

use std::time::{Duration, Instant};

use crate::providers::Provider;

/// What a started login keeps until the browser comes back.
pub struct Pending {
    pub provider: &'static str,
    pub csrf: String,
    /// OpenID Connect's nonce; empty for plain OAuth2.
    pub nonce: String,
    pub verifier: String,
    pub since: Instant,
}

/// What a protocol's start gives: the provider's address, `state`, the nonce (or ""), the PKCE
/// verifier.
pub struct Started {
    pub url: String,
    pub csrf: String,
    pub nonce: String,
    pub verifier: String,
}

/// Why a provider's answer was refused (said in the log; the page says less).
#[derive(Debug)]
pub struct Refused(pub String);

/// The HTTP client: no redirect followed (a provider's answer that redirects is not one), and a
/// provider that does not answer in time is a failure, not a hang.
pub fn http() -> Http {
    Http(agent())
}

pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().redirects(0).timeout(Duration::from_secs(10)).build()
}

/// ureq as oauth2's (and openidconnect's) blocking client: a request's method, headers and
/// body, and the answer's status, content type and body (an error status is an answer, for the
/// library to read the provider's error from).
pub struct Http(ureq::Agent);

impl oauth2::SyncHttpClient for Http {
    type Error = oauth2::HttpClientError<ureq::Error>;

    fn call(&self, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, Self::Error> {
        use std::io::Read;
        let mut req = self.0.request(request.method().as_str(), &request.uri().to_string());
        for (name, value) in request.headers() {
            let value = value
                .to_str()
                .map_err(|_| oauth2::HttpClientError::Other(format!("a header {name} that is not text")))?;
            req = req.set(name.as_str(), value);
        }
        let sent = if request.body().is_empty() { req.call() } else { req.send_bytes(request.body()) };
        let response = match sent {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(oauth2::HttpClientError::Reqwest(Box::new(e))),
        };
        let mut builder = http::Response::builder().status(response.status());
        if let Some(kind) = response.header("content-type") {
            builder = builder.header(http::header::CONTENT_TYPE, kind);
        }
        let mut body = Vec::new();
        response.into_reader().take(1 << 20).read_to_end(&mut body).map_err(oauth2::HttpClientError::Io)?;
        builder.body(body).map_err(oauth2::HttpClientError::Http)
    }
}

pub fn callback_url(public_url: &str, provider: &Provider) -> String {
    format!("{}/api/v1/sign-in/{}/callback", public_url.trim_end_matches('/'), provider.id)
}
