//! URLs as sent and as shown: query parameters set one at a time, secrets hidden.

use reqwest::Url;

/// Query parameters whose values are hidden in URLs shown to people, besides the API key's own parameter.
const SECRET_PARAMS: [&str; 9] = [
    "access_token",
    "api_key",
    "apikey",
    "client_secret",
    "key",
    "password",
    "secret",
    "signature",
    "token",
];

/// Sets query parameter `name` of `url` to `value`, replacing any it has.
pub(crate) fn set_param(url: &mut Url, name: &str, value: &str) {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != name)
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair(name, value);
}

/// `url` without user info, with the values of `secret_param` and of the usual secret parameters as `***`.
pub(crate) fn show_url(url: &Url, secret_param: Option<&str>) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    if shown.query().is_some() {
        let is_secret = |name: &str| {
            secret_param.is_some_and(|p| p.eq_ignore_ascii_case(name))
                || SECRET_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(name))
        };
        let pairs: Vec<(String, String)> = shown
            .query_pairs()
            .into_owned()
            .map(|(k, v)| {
                let v = if is_secret(&k) { "***".to_owned() } else { v };
                (k, v)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    // `***` is shown as it is, not percent-encoded.
    shown.as_str().replace("%2A%2A%2A", "***")
}
