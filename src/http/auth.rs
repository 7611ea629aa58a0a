//! How a [`RestClient`](super::RestClient) authenticates: bearer tokens, API keys, HTTP basic, OAuth2 client
//! credentials. Every credential is a [`Secret`]: `Debug` prints `***`, and the client never puts one in an
//! error or a log line.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use tokio::sync::Mutex;

use crate::Secret;
use crate::{Error, Result};

/// The credentials a [`RestClient`](super::RestClient) sends with each request.
#[derive(Clone)]
pub struct Auth {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Bearer(Secret<String>),
    ApiKeyHeader {
        name: String,
        key: Secret<String>,
    },
    ApiKeyQuery {
        name: String,
        key: Secret<String>,
    },
    Basic {
        username: String,
        password: Secret<String>,
    },
    OAuth2(Arc<OAuth2>),
}

/// OAuth2 client credentials and the access token they got, shared by the clones of a client.
struct OAuth2 {
    token_url: String,
    client_id: String,
    client_secret: Secret<String>,
    scopes: Vec<String>,
    token: Mutex<Option<AccessToken>>,
}

struct AccessToken {
    token: Secret<String>,
    /// When to ask for a new one (a minute before it expires); `None` until the API refuses it.
    refresh_at: Option<Instant>,
}

/// What [`Auth`] adds to one request.
pub(crate) enum Credential {
    Header(HeaderName, HeaderValue),
    Query(String, Secret<String>),
}

impl Auth {
    /// `Authorization: Bearer <token>`.
    pub fn bearer(token: impl Into<Secret<String>>) -> Auth {
        Auth {
            kind: Kind::Bearer(token.into()),
        }
    }

    /// An API key in the header `name` (`X-API-Key: <key>`).
    pub fn api_key_header(name: impl Into<String>, key: impl Into<Secret<String>>) -> Auth {
        Auth {
            kind: Kind::ApiKeyHeader {
                name: name.into(),
                key: key.into(),
            },
        }
    }

    /// An API key in the query parameter `name` (`?api_key=<key>`); error messages show the URL with `***`.
    pub fn api_key_query(name: impl Into<String>, key: impl Into<Secret<String>>) -> Auth {
        Auth {
            kind: Kind::ApiKeyQuery {
                name: name.into(),
                key: key.into(),
            },
        }
    }

    /// HTTP basic authentication.
    pub fn basic(username: impl Into<String>, password: impl Into<Secret<String>>) -> Auth {
        Auth {
            kind: Kind::Basic {
                username: username.into(),
                password: password.into(),
            },
        }
    }

    /// OAuth2 client credentials: an access token is asked of `token_url` (a form POST with
    /// `grant_type=client_credentials`, `client_id` and `client_secret`) before the first request, again a minute
    /// before it expires (`expires_in`), and again once when the API answers 401.
    pub fn oauth2_client_credentials(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret<String>>,
    ) -> Auth {
        Auth {
            kind: Kind::OAuth2(Arc::new(OAuth2 {
                token_url: token_url.into(),
                client_id: client_id.into(),
                client_secret: client_secret.into(),
                scopes: Vec::new(),
                token: Mutex::new(None),
            })),
        }
    }

    /// The scopes to ask for (OAuth2 client credentials only; space-separated in the `scope` field).
    pub fn scopes(self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Auth {
        match self.kind {
            Kind::OAuth2(oauth) => Auth {
                kind: Kind::OAuth2(Arc::new(OAuth2 {
                    token_url: oauth.token_url.clone(),
                    client_id: oauth.client_id.clone(),
                    client_secret: oauth.client_secret.clone(),
                    scopes: scopes.into_iter().map(Into::into).collect(),
                    token: Mutex::new(None),
                })),
            },
            kind => Auth { kind },
        }
    }

    /// The query parameter holding the key, to hide its value in URLs shown to people.
    pub(crate) fn query_param(&self) -> Option<&str> {
        match &self.kind {
            Kind::ApiKeyQuery { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The secrets themselves, to scrub them from any text shown (a server may echo them).
    pub(crate) fn secrets(&self) -> Vec<String> {
        match &self.kind {
            Kind::Bearer(token) => vec![token.expose().clone()],
            Kind::ApiKeyHeader { key, .. } | Kind::ApiKeyQuery { key, .. } => {
                vec![key.expose().clone()]
            }
            Kind::Basic { password, .. } => vec![password.expose().clone()],
            Kind::OAuth2(oauth) => {
                let mut secrets = vec![oauth.client_secret.expose().clone()];
                // Locked while a token is being fetched (by this very request): then there is no token yet.
                if let Ok(cached) = oauth.token.try_lock()
                    && let Some(token) = &*cached
                {
                    secrets.push(token.token.expose().clone());
                }
                secrets
            }
        }
    }

    /// Whether a 401 may be cured by asking for a new token.
    pub(crate) fn can_refresh(&self) -> bool {
        matches!(self.kind, Kind::OAuth2(_))
    }

    /// Forgets the OAuth2 access token, so the next request asks for a new one.
    pub(crate) async fn invalidate(&self) {
        if let Kind::OAuth2(oauth) = &self.kind {
            *oauth.token.lock().await = None;
        }
    }

    /// What to add to a request; asks for an OAuth2 token through `fetch_token` when there is none (or it is
    /// about to expire).
    pub(crate) async fn credential<F, Fut>(&self, fetch_token: F) -> Result<Credential>
    where
        F: FnOnce(TokenRequest) -> Fut,
        Fut: Future<Output = Result<serde_json::Value>>,
    {
        let bad_value = |what: &str| {
            Error::config(format!(
                "the {what} holds characters an HTTP header cannot carry"
            ))
        };
        Ok(match &self.kind {
            Kind::Bearer(token) => Credential::Header(
                AUTHORIZATION,
                sensitive(&format!("Bearer {}", token.expose()))
                    .ok_or_else(|| bad_value("bearer token"))?,
            ),
            Kind::ApiKeyHeader { name, key } => Credential::Header(
                HeaderName::try_from(name.as_str()).map_err(|_| {
                    Error::config(format!("`{name}` is not a valid HTTP header name"))
                })?,
                sensitive(key.expose()).ok_or_else(|| bad_value("API key"))?,
            ),
            Kind::ApiKeyQuery { name, key } => Credential::Query(name.clone(), key.clone()),
            Kind::Basic { username, password } => {
                let pair = format!("{username}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                Credential::Header(
                    AUTHORIZATION,
                    sensitive(&format!("Basic {encoded}"))
                        .ok_or_else(|| bad_value("username or password"))?,
                )
            }
            Kind::OAuth2(oauth) => {
                let mut cached = oauth.token.lock().await;
                let fresh = cached
                    .as_ref()
                    .is_some_and(|t| t.refresh_at.is_none_or(|at| Instant::now() < at));
                if !fresh {
                    let request = TokenRequest {
                        url: oauth.token_url.clone(),
                        form: oauth.form(),
                    };
                    let response = fetch_token(request).await?;
                    *cached = Some(AccessToken::from_response(&response, &oauth.token_url)?);
                }
                let token = cached
                    .as_ref()
                    .map(|t| t.token.expose().as_str())
                    .unwrap_or_default();
                Credential::Header(
                    AUTHORIZATION,
                    sensitive(&format!("Bearer {token}"))
                        .ok_or_else(|| bad_value("OAuth2 access token"))?,
                )
            }
        })
    }
}

/// A request for an OAuth2 access token: a form POST to `url`.
pub(crate) struct TokenRequest {
    pub(crate) url: String,
    pub(crate) form: Vec<(&'static str, Secret<String>)>,
}

impl OAuth2 {
    fn form(&self) -> Vec<(&'static str, Secret<String>)> {
        let mut form = vec![
            ("grant_type", Secret::new("client_credentials".to_owned())),
            ("client_id", Secret::new(self.client_id.clone())),
            ("client_secret", self.client_secret.clone()),
        ];
        if !self.scopes.is_empty() {
            form.push(("scope", Secret::new(self.scopes.join(" "))));
        }
        form
    }
}

impl AccessToken {
    fn from_response(response: &serde_json::Value, token_url: &str) -> Result<AccessToken> {
        let token = response["access_token"].as_str().ok_or_else(|| {
            Error::config(format!(
                "the OAuth2 token endpoint `{token_url}` answered without an `access_token`"
            ))
        })?;
        let refresh_at = response["expires_in"].as_u64().map(|seconds| {
            // A minute early, or halfway for short-lived tokens.
            let margin = (seconds / 2).min(60);
            Instant::now() + Duration::from_secs(seconds - margin)
        });
        Ok(AccessToken {
            token: Secret::new(token.to_owned()),
            refresh_at,
        })
    }
}

/// A header value marked sensitive (reqwest leaves it out of its `Debug`).
fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(value).ok()?;
    value.set_sensitive(true);
    Some(value)
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Bearer(token) => write!(f, "Auth::Bearer({token:?})"),
            Kind::ApiKeyHeader { name, key } => write!(f, "Auth::ApiKeyHeader({name}: {key:?})"),
            Kind::ApiKeyQuery { name, key } => write!(f, "Auth::ApiKeyQuery({name}={key:?})"),
            Kind::Basic { username, password } => {
                write!(f, "Auth::Basic({username}:{password:?})")
            }
            Kind::OAuth2(oauth) => write!(
                f,
                "Auth::OAuth2ClientCredentials({} as {}, secret {:?})",
                oauth.token_url, oauth.client_id, oauth.client_secret
            ),
        }
    }
}
