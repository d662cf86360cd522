//! OpenID Connect sign-in against the company's provider: its discovery document and keys
//! (cached), the authorization code exchange, and the ID token's checks ([`jwt`]). The HTTP
//! routes are in `api/oidc.rs`.
//!
//! The provider is reached with reqwest over rustls (ring). Its URLs must be `https`, but for a
//! loopback host (a provider on the same machine, as in the tests).

pub mod jwt;

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use jwt::{Expected, Jwks, TokenError};

/// How long a discovery document is used before it is read again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// How long a JWKS is used before it is read again (an unknown `kid` reads it at once).
const JWKS_TTL: Duration = Duration::from_secs(3600);
/// The JWKS is not read again for an unknown `kid` more often than this. (ID tokens come from the
/// token endpoint in exchange for a code and the client secret, never from the browser, so an
/// unknown `kid` means a rotation, not an attack; the gap only keeps a misbehaving provider from
/// making every sign-in read the keys twice.)
pub const JWKS_REFETCH_GAP: Duration = Duration::from_secs(1);
/// Timeout of each call to the provider.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from the provider.
const MAX_ANSWER: usize = 1024 * 1024;

/// What went wrong talking to the provider or with what it answered. Messages hold no secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("the provider could not be reached at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the provider's {what} is not usable: {reason}")]
    BadAnswer { what: &'static str, reason: String },
    #[error("the provider refused the authorization code: {0}")]
    TokenRefused(String),
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// The members of a discovery document (OpenID Connect Discovery 1.0) Sluice uses.
#[derive(Clone, Debug, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// How the client authenticates at the token endpoint.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (the default of the specification).
    Basic,
    /// The client id and secret in the form.
    Post,
}

impl Discovery {
    /// `client_secret_basic` unless the provider offers only `client_secret_post`.
    pub fn client_auth(&self) -> Result<ClientAuth, Error> {
        let Some(methods) = &self.token_endpoint_auth_methods_supported else { return Ok(ClientAuth::Basic) };
        if methods.iter().any(|m| m == "client_secret_basic") {
            Ok(ClientAuth::Basic)
        } else if methods.iter().any(|m| m == "client_secret_post") {
            Ok(ClientAuth::Post)
        } else {
            Err(Error::BadAnswer {
                what: "discovery document",
                reason: format!(
                    "its token endpoint takes {methods:?}; Sluice sends client_secret_basic or client_secret_post"
                ),
            })
        }
    }
}

/// Checks a URL of the provider: `https`, or `http` to a loopback host.
pub fn check_url(what: &str, url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("{what} `{url}` is not an absolute URL"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| format!("{h}]")).unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default().to_string()
    };
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{what} `{url}` has no host"));
    }
    let loopback =
        host == "localhost" || host == "[::1]" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
    match scheme {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("{what} `{url}` must use https (http only to localhost)")),
    }
}

/// The provider's documents, cached per node.
#[derive(Default)]
pub struct Provider {
    client: OnceLock<reqwest::Client>,
    discovery: Mutex<Option<(String, Discovery, Instant)>>,
    jwks: Mutex<Option<(String, Jwks, Instant)>>,
}

impl Provider {
    fn client(&self) -> Result<&reqwest::Client, Error> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        // reqwest is built without a default crypto provider: install ring unless one is already.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            // The provider's answers are read as they are: a redirect is no answer.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("cannot set up the HTTP client: {e}")))?;
        Ok(self.client.get_or_init(|| client))
    }

    /// Forgets the cached documents (the configuration changed).
    pub fn forget(&self) {
        *self.discovery.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        *self.jwks.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    async fn get_json(&self, what: &'static str, url: &str) -> Result<Value, Error> {
        check_url(what, url).map_err(Error::Config)?;
        let unreachable = |e: reqwest::Error| Error::Unreachable { url: url.to_string(), reason: e.to_string() };
        let resp = self.client()?.get(url).header("accept", "application/json").send().await.map_err(unreachable)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(Error::BadAnswer { what, reason: format!("{url} answered {status}") });
        }
        if bytes.len() > MAX_ANSWER {
            return Err(Error::BadAnswer { what, reason: "it is larger than 1 MiB".into() });
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::BadAnswer { what, reason: format!("not JSON: {e}") })
    }

    /// The discovery document at `url` (cached for an hour). Its issuer must be the URL before
    /// `/.well-known/openid-configuration`, and its endpoints https.
    pub async fn discovery(&self, url: &str) -> Result<Discovery, Error> {
        {
            let cached = self.discovery.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((u, d, at)) = cached.as_ref()
                && u == url
                && at.elapsed() < DISCOVERY_TTL
            {
                return Ok(d.clone());
            }
        }
        let what = "discovery document";
        let doc: Discovery = serde_json::from_value(self.get_json(what, url).await?)
            .map_err(|e| Error::BadAnswer { what, reason: e.to_string() })?;
        let base = url.trim_end_matches("/.well-known/openid-configuration");
        if doc.issuer.trim_end_matches('/') != base.trim_end_matches('/') {
            return Err(Error::BadAnswer {
                what,
                reason: format!("its issuer `{}` is not the discovery URL's `{base}`", doc.issuer),
            });
        }
        for (name, u) in [
            ("authorization_endpoint", &doc.authorization_endpoint),
            ("token_endpoint", &doc.token_endpoint),
            ("jwks_uri", &doc.jwks_uri),
        ] {
            check_url(name, u).map_err(|reason| Error::BadAnswer { what, reason })?;
        }
        doc.client_auth()?;
        *self.discovery.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((url.to_string(), doc.clone(), Instant::now()));
        Ok(doc)
    }

    /// The provider's keys (cached; `refresh` reads them again unless just read).
    async fn jwks(&self, url: &str, refresh: bool) -> Result<Jwks, Error> {
        {
            let cached = self.jwks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((u, k, at)) = cached.as_ref()
                && u == url
                && at.elapsed() < if refresh { JWKS_REFETCH_GAP } else { JWKS_TTL }
            {
                return Ok(k.clone());
            }
        }
        let what = "JWKS";
        let keys: Jwks = serde_json::from_value(self.get_json(what, url).await?)
            .map_err(|e| Error::BadAnswer { what, reason: e.to_string() })?;
        *self.jwks.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((url.to_string(), keys.clone(), Instant::now()));
        Ok(keys)
    }

    /// Exchanges an authorization code at the token endpoint; the ID token it answers.
    pub async fn exchange(&self, d: &Discovery, code: &Exchange<'_>) -> Result<String, Error> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.code),
            ("redirect_uri", code.redirect_uri),
            ("code_verifier", code.verifier),
            ("client_id", code.client_id),
        ];
        let mut req = self.client()?.post(&d.token_endpoint).header("accept", "application/json");
        match d.client_auth()? {
            ClientAuth::Basic => {
                // RFC 6749 2.3.1: each form-encoded before they are joined.
                let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let pair = format!("{}:{}", enc(code.client_id), enc(code.client_secret));
                let basic = base64::engine::general_purpose::STANDARD.encode(pair);
                req = req.header("authorization", format!("Basic {basic}"));
            }
            ClientAuth::Post => form.push(("client_secret", code.client_secret)),
        }
        let url = &d.token_endpoint;
        let unreachable = |e: reqwest::Error| Error::Unreachable { url: url.clone(), reason: e.to_string() };
        let resp = req.form(&form).send().await.map_err(unreachable)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(unreachable)?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            // RFC 6749 5.2: `error` is a code; the description is the provider's words.
            let error = body.get("error").and_then(Value::as_str).unwrap_or("no error code");
            let description = body.get("error_description").and_then(Value::as_str).unwrap_or_default();
            let shown: String = format!("{status} {error} {description}").trim().chars().take(300).collect();
            return Err(Error::TokenRefused(shown));
        }
        match body.get("id_token").and_then(Value::as_str) {
            Some(t) => Ok(t.to_string()),
            None => Err(Error::BadAnswer { what: "token answer", reason: "it has no `id_token`".into() }),
        }
    }

    /// Verifies an ID token: its signature with the provider's keys (read again once for an
    /// unknown `kid`, as after a key rotation), then its claims. The claims when it is good.
    pub async fn verify(
        &self,
        d: &Discovery,
        token: &str,
        want: &Expected<'_>,
    ) -> Result<serde_json::Map<String, Value>, Error> {
        let t = jwt::parse(token)?;
        let keys = self.jwks(&d.jwks_uri, false).await?;
        match jwt::check_signature(&t, &keys) {
            Ok(()) => {}
            Err(TokenError::UnknownKey(_)) => {
                let keys = self.jwks(&d.jwks_uri, true).await?;
                jwt::check_signature(&t, &keys)?;
            }
            Err(e) => return Err(e.into()),
        }
        jwt::check_claims(&t.claims, want)?;
        Ok(t.claims)
    }
}

/// What the token endpoint is sent for one code.
pub struct Exchange<'a> {
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub verifier: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_urls_must_be_https_but_on_loopback() {
        assert!(check_url("u", "https://idp.example/.well-known/openid-configuration").is_ok());
        assert!(check_url("u", "http://127.0.0.1:9000/x").is_ok());
        assert!(check_url("u", "http://localhost/x").is_ok());
        assert!(check_url("u", "http://[::1]:80/x").is_ok());
        assert!(check_url("u", "http://idp.example/x").is_err());
        assert!(check_url("u", "http://127.0.0.1.evil.example/x").is_err());
        assert!(check_url("u", "ftp://idp.example/x").is_err());
        assert!(check_url("u", "idp.example").is_err());
        assert!(check_url("u", "http://localhost@evil.example/").is_err());
    }
}
