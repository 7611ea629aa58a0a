//! The client: base URL, default headers, auth, timeouts, and the retry loop every request goes through.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::auth::{Auth, Credential, TokenRequest};
use super::retry::{RetryPolicy, parse_retry_after};
use super::url::{set_param, show_url};
use crate::{Error, Result};

/// The default timeout of one request (connecting, sending, and reading the whole response).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of an error response's body an error message quotes.
const BODY_LINES: usize = 5;
const BODY_CHARS: usize = 500;
/// A client of one REST API: `RestClient::new("https://api.github.com")`, or [`RestClient::builder`] for
/// headers, auth, retries and timeouts. Cheap to clone (the clones share connections and counters).
///
/// Requests go through the retry loop of its [`RetryPolicy`]; an error names the method, the URL (query
/// parameters holding secrets shown as `***`), the status and the first lines of the body, and is an
/// [`ele::Error::Http`](crate::Error::Http): transient after retries ran out on a connection error, timeout,
/// 429 or 5xx; a configuration error ([`is_config`](crate::Error::is_config)) on 401, 403 and 407.
#[derive(Clone)]
pub struct RestClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    headers: HeaderMap,
    auth: Option<Auth>,
    retry: RetryPolicy,
    timeout: Duration,
    requests: AtomicU64,
    retries: AtomicU64,
}

/// Settings of a [`RestClient`]; [`RestClientBuilder::build`] checks them.
#[must_use]
pub struct RestClientBuilder {
    base_url: String,
    headers: Vec<(String, String)>,
    auth: Option<Auth>,
    retry: RetryPolicy,
    timeout: Duration,
}

impl RestClientBuilder {
    /// A header sent with every request (not for credentials: use [`Self::auth`], which keeps them secret).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How requests authenticate.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// How failed requests are retried ([`RetryPolicy::default`] unless set).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The timeout of one attempt of a request, connecting and reading the response included (60 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The client; a configuration error when the base URL or a header is invalid.
    pub fn build(self) -> Result<RestClient> {
        let base_url = Url::parse(&self.base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                Error::config(format!(
                    "`{}` is not an http(s) URL to use as the base URL of a REST client",
                    self.base_url
                ))
            })?;
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let header = HeaderName::try_from(name.as_str())
                .map_err(|_| Error::config(format!("`{name}` is not a valid HTTP header name")))?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                Error::config(format!(
                    "the value of header `{name}` holds characters an HTTP header cannot carry"
                ))
            })?;
            headers.append(header, value);
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("ele/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::config(format!("cannot set up the HTTP client: {e}")))?;
        Ok(RestClient {
            inner: Arc::new(Inner {
                http,
                base_url,
                headers,
                auth: self.auth,
                retry: self.retry,
                timeout: self.timeout,
                requests: AtomicU64::new(0),
                retries: AtomicU64::new(0),
            }),
        })
    }
}

/// A response with a JSON body (`null` when empty) and the retries it took.
pub(crate) struct Fetched {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
    pub(crate) retries: u32,
    pub(crate) shown_url: String,
}

/// Why an attempt failed, and whether another may succeed.
enum Failure {
    /// A connection error, timeout, 429 or 5xx: retry after the wait asked for, if any.
    Retry {
        message: String,
        status: Option<StatusCode>,
        retry_after: Option<Duration>,
        source: Option<reqwest::Error>,
    },
    /// Final.
    Fail(Error),
}

impl RestClient {
    /// A client of the API at `base_url` with the default settings.
    pub fn new(base_url: impl Into<String>) -> Result<RestClient> {
        Self::builder(base_url).build()
    }

    /// Settings for a client of the API at `base_url`.
    pub fn builder(base_url: impl Into<String>) -> RestClientBuilder {
        RestClientBuilder {
            base_url: base_url.into(),
            headers: Vec::new(),
            auth: None,
            retry: RetryPolicy::default(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        self.inner.base_url.as_str()
    }

    /// The requests sent so far by this client and its clones, retries included.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// The retries made so far by this client and its clones.
    pub fn retries(&self) -> u64 {
        self.inner.retries.load(Ordering::Relaxed)
    }

    /// `path` on the base URL: appended to its path as dlt does (`https://h/api` + `/issues` is
    /// `https://h/api/issues`); a full URL is taken as it is. `Err` holds the text of an unusable one.
    pub(crate) fn url(&self, path: &str) -> std::result::Result<Url, String> {
        if path.starts_with("http://") || path.starts_with("https://") {
            return Url::parse(path).map_err(|_| path.to_owned());
        }
        let base = self.inner.base_url.as_str();
        let (base, base_query) = base.split_once('?').unwrap_or((base, ""));
        let joined = format!(
            "{}/{}",
            base.trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        let mut url = Url::parse(&joined).map_err(|_| path.to_owned())?;
        if !base_query.is_empty() {
            // Query parameters of the base URL come first.
            let own: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            url.set_query(Some(base_query));
            url.query_pairs_mut().extend_pairs(own);
        }
        Ok(url)
    }

    /// `url` as shown to people: no user info, secret query parameters as `***`.
    pub(crate) fn shown_url(&self, url: &Url) -> String {
        let secret_param = self.inner.auth.as_ref().and_then(Auth::query_param);
        show_url(url, secret_param)
    }

    /// `GET url` with the client's headers and auth, retried by its policy.
    pub(crate) async fn get_json(&self, url: &Url) -> Result<Fetched> {
        // As sent: with the API key's parameter, whose value `shown_url` hides.
        let mut sent_url = url.clone();
        if let Some(name) = self.inner.auth.as_ref().and_then(Auth::query_param) {
            set_param(&mut sent_url, name, "***");
        }
        let shown_url = self.shown_url(&sent_url);
        let mut refreshed_token = false;
        let mut retries = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            let failure = match self.attempt_get(url, &shown_url, retries).await {
                Ok(fetched) => return Ok(fetched),
                Err(failure) => failure,
            };
            match failure {
                Failure::Fail(Error::Http {
                    status: Some(401), ..
                }) if !refreshed_token
                    && self.inner.auth.as_ref().is_some_and(Auth::can_refresh) =>
                {
                    // The access token may have been revoked or expired early: ask for a new one, once.
                    refreshed_token = true;
                    if let Some(auth) = &self.inner.auth {
                        auth.invalidate().await;
                    }
                }
                Failure::Fail(error) => return Err(error),
                Failure::Retry {
                    message,
                    status,
                    retry_after,
                    source,
                } => {
                    retries += 1;
                    let wait = self.wait_or_give_up(
                        retries,
                        waited,
                        &message,
                        status,
                        retry_after,
                        source,
                    )?;
                    tracing::warn!(
                        url = %shown_url,
                        retry = retries,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "retrying: {}",
                        self.scrub(message)
                    );
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
            }
        }
    }

    async fn attempt_get(
        &self,
        url: &Url,
        shown_url: &str,
        retries: u32,
    ) -> std::result::Result<Fetched, Failure> {
        let mut request_url = url.clone();
        let mut auth_header = None;
        if let Some(auth) = &self.inner.auth {
            let credential = auth
                .credential(|request| self.fetch_token(request))
                .await
                .map_err(Failure::Fail)?;
            match credential {
                Credential::Header(name, value) => auth_header = Some((name, value)),
                Credential::Query(name, key) => set_param(&mut request_url, &name, key.expose()),
            }
        }
        let mut request = self
            .inner
            .http
            .get(request_url)
            .headers(self.inner.headers.clone())
            .timeout(self.inner.timeout);
        if let Some((name, value)) = auth_header {
            request = request.header(name, value);
        }
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let response = request
            .send()
            .await
            .map_err(|e| self.connection_failure("GET", shown_url, e))?;
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.connection_failure("GET", shown_url, e))?;
        self.check_status("GET", shown_url, status, &headers, &bytes)?;
        let body = parse_body(&bytes).map_err(|e| {
            Failure::Fail(Error::Http {
                message: format!(
                    "GET {shown_url}: the response is not JSON ({e}): {}",
                    first_lines(&bytes)
                ),
                status: Some(status.as_u16()),
                transient: false,
                source: None,
            })
        })?;
        Ok(Fetched {
            status,
            headers,
            body,
            retries,
            shown_url: shown_url.to_owned(),
        })
    }

    /// Asks the OAuth2 token endpoint for an access token, through the same retries (without auth).
    async fn fetch_token(&self, token: TokenRequest) -> Result<Value> {
        let url = Url::parse(&token.url).map_err(|_| {
            Error::config(format!(
                "`{}` is not a URL to ask for OAuth2 tokens",
                token.url
            ))
        })?;
        let shown_url = show_url(&url, None);
        let mut retries = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            let form: Vec<(&str, &str)> = token
                .form
                .iter()
                .map(|(name, value)| (*name, value.expose().as_str()))
                .collect();
            self.inner.requests.fetch_add(1, Ordering::Relaxed);
            let attempt = async {
                let response = self
                    .inner
                    .http
                    .post(url.clone())
                    .form(&form)
                    .timeout(self.inner.timeout)
                    .send()
                    .await
                    .map_err(|e| self.connection_failure("POST", &shown_url, e))?;
                let (status, headers) = (response.status(), response.headers().clone());
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| self.connection_failure("POST", &shown_url, e))?;
                self.check_status("POST", &shown_url, status, &headers, &bytes)?;
                parse_body(&bytes).map_err(|e| {
                    Failure::Fail(Error::config(format!(
                        "POST {shown_url}: the OAuth2 token response is not JSON ({e})"
                    )))
                })
            };
            match attempt.await {
                Ok(body) => return Ok(body),
                Err(Failure::Fail(Error::Http {
                    message,
                    status: Some(status),
                    ..
                })) if (400..500).contains(&status) => {
                    // The endpoint refused the client's credentials or request: a configuration error.
                    return Err(Error::config(format!(
                        "OAuth2 client credentials refused: {message}"
                    )));
                }
                Err(Failure::Fail(error)) => return Err(error),
                Err(Failure::Retry {
                    message,
                    status,
                    retry_after,
                    source,
                }) => {
                    retries += 1;
                    let wait = self.wait_or_give_up(
                        retries,
                        waited,
                        &message,
                        status,
                        retry_after,
                        source,
                    )?;
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
            }
        }
    }

    /// The wait before retry number `retries` of a retryable failure, or, once the policy's retries or waiting
    /// budget are spent, the transient error that says why it stopped.
    fn wait_or_give_up(
        &self,
        retries: u32,
        waited: Duration,
        message: &str,
        status: Option<StatusCode>,
        retry_after: Option<Duration>,
        source: Option<reqwest::Error>,
    ) -> Result<Duration> {
        self.inner
            .retry
            .wait_before(retries, retry_after, waited)
            .ok_or_else(|| {
                let tried = give_up_reason(&self.inner.retry, retries, retry_after, waited);
                Error::Http {
                    message: self.scrub(format!("{message}{tried}")),
                    status: status.map(|s| s.as_u16()),
                    transient: true,
                    source: source.map(|e| e.without_url().into()),
                }
            })
    }

    fn connection_failure(&self, method: &str, shown_url: &str, error: reqwest::Error) -> Failure {
        let what = if error.is_timeout() {
            format!("timed out after {:?}", self.inner.timeout)
        } else if error.is_connect() {
            "cannot connect".to_owned()
        } else {
            "the connection failed".to_owned()
        };
        Failure::Retry {
            message: format!("{method} {shown_url}: {what}"),
            status: None,
            retry_after: None,
            source: Some(error.without_url()),
        }
    }

    /// `Ok` for 2xx and 3xx; a retry for 429 and 5xx; else the final error quoting the body.
    fn check_status(
        &self,
        method: &str,
        shown_url: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> std::result::Result<(), Failure> {
        if !status.is_client_error() && !status.is_server_error() {
            return Ok(());
        }
        let message = format!("{method} {shown_url}: {status}: {}", first_lines(body));
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let retry_after = headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            return Err(Failure::Retry {
                message,
                status: Some(status),
                retry_after,
                source: None,
            });
        }
        let hint = match status.as_u16() {
            401 | 407 => "; check the credentials",
            403 => "; check the credentials and their permissions",
            _ => "",
        };
        Err(Failure::Fail(Error::Http {
            message: self.scrub(format!("{message}{hint}")),
            status: Some(status.as_u16()),
            transient: false,
            source: None,
        }))
    }

    /// `text` with every secret of the auth replaced by `***` (a server may echo a key in its error body).
    fn scrub(&self, mut text: String) -> String {
        if let Some(auth) = &self.inner.auth {
            for secret in auth.secrets() {
                if !secret.is_empty() {
                    text = text.replace(&secret, "***");
                }
            }
        }
        text
    }
}

impl fmt::Debug for RestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestClient")
            .field("base_url", &self.shown_url(&self.inner.base_url))
            .field("auth", &self.inner.auth)
            .field("retry", &self.inner.retry)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// Why the retries stopped, for the error message: ` (gave up after 3 retries)`, or the `Retry-After` that
/// would take the waiting past the budget.
fn give_up_reason(
    policy: &RetryPolicy,
    retry: u32,
    retry_after: Option<Duration>,
    waited: Duration,
) -> String {
    match retry_after {
        Some(after) if policy.past_budget(after, waited) => format!(
            " (the server asked to retry after {} s, past the retry budget)",
            after.as_secs()
        ),
        _ => match retry.saturating_sub(1) {
            0 => String::new(),
            1 => " (gave up after 1 retry)".to_owned(),
            n => format!(" (gave up after {n} retries)"),
        },
    }
}

fn parse_body(bytes: &[u8]) -> serde_json::Result<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes)
}

/// The first lines of a body, for an error message.
fn first_lines(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    let mut shown: String = text.lines().take(BODY_LINES).collect::<Vec<_>>().join("\n");
    if shown.chars().count() > BODY_CHARS {
        shown = shown.chars().take(BODY_CHARS).collect();
    }
    if shown.len() < text.len() {
        shown.push_str(" ...");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str, auth: Option<Auth>) -> RestClient {
        let mut builder = RestClient::builder(base);
        if let Some(auth) = auth {
            builder = builder.auth(auth);
        }
        builder.build().expect("valid settings")
    }

    #[test]
    fn paths_are_appended_to_the_base_url() {
        let api = client("https://example.com/api/v2/", None);
        let url = |p: &str| api.url(p).map(String::from);
        assert_eq!(
            url("/issues").as_deref(),
            Ok("https://example.com/api/v2/issues")
        );
        assert_eq!(
            url("issues?state=open").as_deref(),
            Ok("https://example.com/api/v2/issues?state=open")
        );
        assert_eq!(
            url("https://other.org/x").as_deref(),
            Ok("https://other.org/x")
        );
        let with_query = client("https://example.com/api?v=1", None);
        assert_eq!(
            with_query.url("/items?page=2").map(String::from).as_deref(),
            Ok("https://example.com/api/items?v=1&page=2")
        );
    }

    #[test]
    fn a_bad_base_url_is_a_config_error() {
        for base in ["not a url", "ftp://example.com", ""] {
            let error = RestClient::new(base).expect_err("invalid");
            assert!(error.is_config(), "{error}");
        }
        let error = RestClient::builder("https://example.com")
            .header("bad header", "x")
            .build()
            .expect_err("invalid header name");
        assert!(error.is_config(), "{error}");
    }

    #[test]
    fn shown_urls_hide_secrets() {
        let api = client(
            "https://user:pw@example.com",
            Some(Auth::api_key_query("appid", "s3cr3t".to_owned())),
        );
        let url =
            Url::parse("https://user:pw@example.com/x?appid=s3cr3t&q=rust&access_token=t0k&page=2")
                .expect("a url");
        assert_eq!(
            api.shown_url(&url),
            "https://example.com/x?appid=***&q=rust&access_token=***&page=2"
        );
        assert!(!format!("{api:?}").contains("pw"), "{api:?}");
    }

    /// Log lines written while the test's subscriber is the default.
    #[derive(Clone, Default)]
    struct CapturedLog(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for CapturedLog {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A server on 127.0.0.1 giving `responses` (whole HTTP responses) to one connection each, in order.
    async fn canned_server(responses: Vec<String>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let address = listener.local_addr().expect("an address");
        tokio::spawn(async move {
            for response in responses {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        format!("http://{address}")
    }

    fn response(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    // In the unit tests, as no other test of this binary retries: tracing caches whether a log line is
    // wanted per call site, and other threads retrying without a subscriber would race with this one.
    #[tokio::test]
    async fn retry_log_lines_show_no_secret() {
        let key = "l0g-s3cret-k3y";
        let base = canned_server(vec![
            response(
                "429 Too Many Requests",
                "Retry-After: 0\r\n",
                &format!("{{\"error\":\"slow down, {key}\"}}"),
            ),
            response("200 OK", "", "[{\"id\":1}]"),
        ])
        .await;
        let log = CapturedLog::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let client = RestClient::builder(base)
            .auth(Auth::api_key_query("api_key", key.to_owned()))
            .retry(RetryPolicy::new().initial_backoff(Duration::ZERO))
            .build()
            .expect("client");
        let url = client.url("/items").expect("a url");
        let fetched = client.get_json(&url).await.expect("a page after the retry");
        assert_eq!(fetched.retries, 1);
        let text =
            String::from_utf8_lossy(&log.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
        assert!(text.contains("retrying") && text.contains("429"), "{text}");
        assert!(
            text.contains("api_key=***") && text.contains("slow down, ***"),
            "{text}"
        );
        assert!(!text.contains(key), "{text}");
    }

    #[test]
    fn error_bodies_are_cut() {
        assert_eq!(first_lines(b""), "(empty body)");
        assert_eq!(
            first_lines(b"{\"error\":\"nope\"}\n"),
            "{\"error\":\"nope\"}"
        );
        let long = "line\n".repeat(20);
        assert_eq!(
            first_lines(long.as_bytes()),
            "line\nline\nline\nline\nline ..."
        );
        let wide = "x".repeat(2000);
        assert_eq!(first_lines(wide.as_bytes()).len(), BODY_CHARS + 4);
    }
}
