//! Paginators: how the request for the next page follows from the last response. The built-in ones are
//! dlt's; [`Paginator`] is the trait a custom one implements.

use std::fmt;

use reqwest::Url;
use reqwest::header::{HeaderMap, LINK};
use serde_json::Value;

use super::selector::JsonPath;
use super::url::{set_param, show_url};
use crate::{Error, Result};

/// The request of the next page, as a paginator changes it: its URL and query parameters.
#[derive(Clone)]
pub struct PageRequest {
    url: Url,
}

impl fmt::Debug for PageRequest {
    /// The URL with the values of secret-looking query parameters as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PageRequest({})", show_url(&self.url, None))
    }
}

impl PageRequest {
    pub(crate) fn new(url: Url) -> PageRequest {
        PageRequest { url }
    }

    /// The URL, query included.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<String> {
        self.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// Sets query parameter `name`, replacing any value it had.
    pub fn set_param(&mut self, name: &str, value: impl fmt::Display) {
        set_param(&mut self.url, name, &value.to_string());
    }

    /// Removes query parameter `name`.
    pub fn remove_param(&mut self, name: &str) {
        let kept: Vec<(String, String)> = self
            .url
            .query_pairs()
            .into_owned()
            .filter(|(k, _)| k != name)
            .collect();
        self.url.set_query(None);
        if !kept.is_empty() {
            self.url.query_pairs_mut().extend_pairs(kept);
        }
    }

    /// Goes to `link`, a full URL or one relative to the current one, with the query it carries (a next link
    /// holds the whole query of the next page).
    pub fn follow(&mut self, link: &str) -> Result<()> {
        self.url = self.url.join(link).map_err(|e| Error::Http {
            message: format!("the next page's link `{link}` is not a URL: {e}"),
            status: None,
            transient: false,
            source: None,
        })?;
        Ok(())
    }
}

/// The response of the page just read, as a paginator sees it.
#[derive(Debug, Clone, Copy)]
pub struct PageResponse<'a> {
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a Value,
    pub(crate) items: &'a [Value],
}

impl<'a> PageResponse<'a> {
    /// The response headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The whole JSON body.
    pub fn body(&self) -> &'a Value {
        self.body
    }

    /// The page's items, as the data selector found them.
    pub fn items(&self) -> &'a [Value] {
        self.items
    }
}

/// How to get from one page to the next. dlt's paginators are built in; implement this for an API that pages
/// another way.
///
/// ```
/// use ele::http::{PageRequest, PageResponse, Paginator};
///
/// /// Stripe's `starting_after`: the id of the last object of the page, while `has_more` is true.
/// struct StartingAfter;
///
/// impl Paginator for StartingAfter {
///     fn next_request(&mut self, page: &PageResponse<'_>, request: &mut PageRequest) -> ele::Result<bool> {
///         let last_id = page.items().last().and_then(|o| o["id"].as_str());
///         match last_id {
///             Some(id) if page.body()["has_more"] == true => {
///                 request.set_param("starting_after", id);
///                 Ok(true)
///             }
///             _ => Ok(false),
///         }
///     }
/// }
/// ```
pub trait Paginator: Send {
    /// Sets up the request of the first page (an offset of 0, page 1); leaves it as it is by default.
    fn init_request(&mut self, request: &mut PageRequest) {
        let _ = request;
    }

    /// Reads the page just fetched and turns `request` into the next page's: `Ok(false)` when that was the
    /// last page.
    fn next_request(&mut self, page: &PageResponse<'_>, request: &mut PageRequest) -> Result<bool>;
}

impl<P: Paginator + ?Sized> Paginator for Box<P> {
    fn init_request(&mut self, request: &mut PageRequest) {
        (**self).init_request(request);
    }

    fn next_request(&mut self, page: &PageResponse<'_>, request: &mut PageRequest) -> Result<bool> {
        (**self).next_request(page, request)
    }
}

/// The error of a paginator that cannot read what it needs from a response.
fn unreadable(message: String) -> Error {
    Error::Http {
        message,
        status: None,
        transient: false,
        source: None,
    }
}

/// One page, no next: dlt's `SinglePagePaginator`.
#[derive(Debug, Clone, Default)]
pub struct SinglePagePaginator;

impl SinglePagePaginator {
    /// The paginator.
    pub fn new() -> Self {
        SinglePagePaginator
    }
}

impl Paginator for SinglePagePaginator {
    fn next_request(&mut self, _: &PageResponse<'_>, _: &mut PageRequest) -> Result<bool> {
        Ok(false)
    }
}

/// The next page's URL in the body, at a JSON path (`next` by default); the last page has none (or `null`):
/// dlt's `JSONLinkPaginator`.
#[derive(Debug, Clone)]
pub struct JsonLinkPaginator {
    next_url_path: JsonPath,
}

impl JsonLinkPaginator {
    /// Follows the URL at `next_url_path` (`"next"`, `"paging.next"`, `"links.next"`).
    pub fn new(next_url_path: impl Into<JsonPath>) -> Self {
        JsonLinkPaginator {
            next_url_path: next_url_path.into(),
        }
    }
}

impl Default for JsonLinkPaginator {
    fn default() -> Self {
        Self::new("next")
    }
}

impl Paginator for JsonLinkPaginator {
    fn next_request(&mut self, page: &PageResponse<'_>, request: &mut PageRequest) -> Result<bool> {
        match self.next_url_path.find(page.body) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::String(link)) if link.is_empty() => Ok(false),
            Some(Value::String(link)) => request.follow(link).map(|()| true),
            Some(other) => Err(unreadable(format!(
                "the next page's link at `{}` is not a string: {other}",
                self.next_url_path
            ))),
        }
    }
}

/// The next page's URL in the `Link` header (`<https://...?page=2>; rel="next"`), as GitHub sends it: dlt's
/// `HeaderLinkPaginator`.
#[derive(Debug, Clone)]
pub struct HeaderLinkPaginator {
    rel: String,
}

impl HeaderLinkPaginator {
    /// Follows the link whose `rel` is `next`.
    pub fn new() -> Self {
        Self::with_rel("next")
    }

    /// Follows the link whose `rel` is `rel`.
    pub fn with_rel(rel: impl Into<String>) -> Self {
        HeaderLinkPaginator { rel: rel.into() }
    }
}

impl Default for HeaderLinkPaginator {
    fn default() -> Self {
        Self::new()
    }
}

impl Paginator for HeaderLinkPaginator {
    fn next_request(&mut self, page: &PageResponse<'_>, request: &mut PageRequest) -> Result<bool> {
        match link_with_rel(page.headers, &self.rel) {
            Some(link) => request.follow(&link).map(|()| true),
            None => Ok(false),
        }
    }
}

/// The URL of the `Link` header entry with relation `rel` (RFC 8288: `<url>; rel="next prev"`).
pub(crate) fn link_with_rel(headers: &HeaderMap, rel: &str) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_links)
        .find_map(|entry| {
            let (target, params) = entry.split_once('>')?;
            let target = target.trim().strip_prefix('<')?;
            let has_rel = params.split(';').any(|param| {
                param.split_once('=').is_some_and(|(name, value)| {
                    name.trim().eq_ignore_ascii_case("rel")
                        && value
                            .trim()
                            .trim_matches('"')
                            .split_ascii_whitespace()
                            .any(|r| r.eq_ignore_ascii_case(rel))
                })
            });
            has_rel.then(|| target.to_owned())
        })
}

/// The entries of a `Link` header: split at commas outside `<...>` and quotes.
fn split_links(header: &str) -> Vec<&str> {
    let mut entries = Vec::new();
    let (mut start, mut in_url, mut in_quotes) = (0, false, false);
    for (i, c) in header.char_indices() {
        match c {
            '<' if !in_quotes => in_url = true,
            '>' if !in_quotes => in_url = false,
            '"' if !in_url => in_quotes = !in_quotes,
            ',' if !in_url && !in_quotes => {
                entries.push(&header[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    entries.push(&header[start..]);
    entries
}

/// Where a numbered paginator (offset, page number) stops.
#[derive(Debug, Clone)]
struct Range {
    /// Where the total is in the body; `None`: stop at an empty page.
    total_path: Option<JsonPath>,
    /// Stop at a page without items even when a total says there is more.
    stop_after_empty_page: bool,
    /// Do not go to or past this value.
    maximum: Option<u64>,
    /// Where a boolean in the body tells whether there is a next page.
    has_more_path: Option<JsonPath>,
}

impl Range {
    fn new() -> Self {
        Range {
            total_path: Some(JsonPath::new("total")),
            stop_after_empty_page: true,
            maximum: None,
            has_more_path: None,
        }
    }

    /// An error when nothing would ever stop the paging.
    fn check_can_stop(&self, paginator: &str) -> Result<()> {
        let can_stop = self.total_path.is_some()
            || self.stop_after_empty_page
            || self.maximum.is_some()
            || self.has_more_path.is_some();
        match can_stop {
            true => Ok(()),
            false => Err(Error::config(format!(
                "{paginator} would never stop: give a total path, a maximum or a has-more path, or stop after an empty page"
            ))),
        }
    }

    /// The boolean at `has_more_path` (`true`, `false`, or such a string); `Ok(None)` without the path.
    fn has_more(&self, page: &PageResponse<'_>, paginator: &str) -> Result<Option<bool>> {
        let Some(path) = &self.has_more_path else {
            return Ok(None);
        };
        match path.find(page.body) {
            Some(Value::Bool(more)) => Ok(Some(*more)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            other => Err(unreadable(format!(
                "{paginator}: the response has no boolean at `{path}`{}",
                other.map(|v| format!(" (found {v})")).unwrap_or_default()
            ))),
        }
    }

    /// The total of the page's body, an error when the path is set and the body has none.
    fn total(&self, page: &PageResponse<'_>, paginator: &str) -> Result<Option<u64>> {
        let Some(path) = &self.total_path else {
            return Ok(None);
        };
        match path.find(page.body) {
            Some(Value::Number(n)) => Ok(n.as_u64()),
            Some(Value::String(s)) if s.parse::<u64>().is_ok() => Ok(s.parse().ok()),
            Some(Value::Null) => Ok(None),
            _ => Err(unreadable(format!(
                "{paginator}: the response has no total at `{path}`; give its path, or `without_total()` to stop at an empty page"
            ))),
        }
    }
}

/// `offset` and `limit` query parameters, the offset growing by the limit: dlt's `OffsetPaginator`. Stops when
/// the offset reaches the total at `total_path` (`total` by default), at a page without items, at
/// `maximum_offset`, or when the boolean at `has_more_path` is `false`.
#[derive(Debug, Clone)]
pub struct OffsetPaginator {
    limit: u64,
    offset: u64,
    offset_param: String,
    limit_param: String,
    range: Range,
}

impl OffsetPaginator {
    /// Pages of `limit` items from offset 0, with parameters `offset` and `limit` and the total at `total`.
    pub fn new(limit: u64) -> Self {
        OffsetPaginator {
            limit,
            offset: 0,
            offset_param: "offset".to_owned(),
            limit_param: "limit".to_owned(),
            range: Range::new(),
        }
    }

    /// The first offset.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// The names of the offset and the limit parameters.
    pub fn params(mut self, offset_param: &str, limit_param: &str) -> Self {
        self.offset_param = offset_param.to_owned();
        self.limit_param = limit_param.to_owned();
        self
    }

    /// Where the total number of items is in the body.
    pub fn total_path(mut self, path: impl Into<JsonPath>) -> Self {
        self.range.total_path = Some(path.into());
        self
    }

    /// No total in the body: stop at the first page without items.
    pub fn without_total(mut self) -> Self {
        self.range.total_path = None;
        self
    }

    /// Where a boolean in the body tells whether there is a next page (`has_more`); stop at `false`.
    pub fn has_more_path(mut self, path: impl Into<JsonPath>) -> Self {
        self.range.has_more_path = Some(path.into());
        self
    }

    /// Stop before this offset.
    pub fn maximum_offset(mut self, maximum: u64) -> Self {
        self.range.maximum = Some(maximum);
        self
    }

    /// Whether a page without items ends the paging even when the total says there is more (`true`).
    pub fn stop_after_empty_page(mut self, stop: bool) -> Self {
        self.range.stop_after_empty_page = stop;
        self
    }
}

impl Paginator for OffsetPaginator {
    fn init_request(&mut self, request: &mut PageRequest) {
        request.set_param(&self.offset_param, self.offset);
        request.set_param(&self.limit_param, self.limit);
    }

    fn next_request(&mut self, page: &PageResponse<'_>, request: &mut PageRequest) -> Result<bool> {
        self.range.check_can_stop("OffsetPaginator")?;
        if self.range.stop_after_empty_page && page.items.is_empty() {
            return Ok(false);
        }
        let total = self.range.total(page, "OffsetPaginator")?;
        let has_more = self.range.has_more(page, "OffsetPaginator")?;
        self.offset += self.limit;
        let past_total = total.is_some_and(|t| self.offset >= t);
        let past_maximum = self.range.maximum.is_some_and(|m| self.offset >= m);
        if past_total || past_maximum || has_more == Some(false) {
            return Ok(false);
        }
        request.set_param(&self.offset_param, self.offset);
        request.set_param(&self.limit_param, self.limit);
        Ok(true)
    }
}

/// A page number query parameter counting up from `base_page`: dlt's `PageNumberPaginator`. Stops after the
/// number of pages at `total_path` (`total` by default), at a page without items, at `maximum_page`, or when the
/// boolean at `has_more_path` is `false`.
#[derive(Debug, Clone)]
pub struct PageNumberPaginator {
    base_page: u64,
    page: u64,
    page_param: String,
    range: Range,
}

impl PageNumberPaginator {
    /// Pages from 0 (dlt's default; [`Self::base_page`] for APIs that count from 1), parameter `page`, the
    /// number of pages at `total`.
    pub fn new() -> Self {
        PageNumberPaginator {
            base_page: 0,
            page: 0,
            page_param: "page".to_owned(),
            range: Range::new(),
        }
    }

    /// The number of the first page (and the first page requested).
    pub fn base_page(mut self, base_page: u64) -> Self {
        self.base_page = base_page;
        self.page = base_page;
        self
    }

    /// The first page requested, when it is not the base page.
    pub fn page(mut self, page: u64) -> Self {
        self.page = page;
        self
    }

    /// The name of the page parameter.
    pub fn page_param(mut self, name: &str) -> Self {
        self.page_param = name.to_owned();
        self
    }

    /// Where the total number of pages is in the body.
    pub fn total_path(mut self, path: impl Into<JsonPath>) -> Self {
        self.range.total_path = Some(path.into());
        self
    }

    /// No total in the body: stop at the first page without items.
    pub fn without_total(mut self) -> Self {
        self.range.total_path = None;
        self
    }

    /// Where a boolean in the body tells whether there is a next page (`has_more`); stop at `false`.
    pub fn has_more_path(mut self, path: impl Into<JsonPath>) -> Self {
        self.range.has_more_path = Some(path.into());
        self
    }

    /// The last page to request.
    pub fn maximum_page(mut self, maximum: u64) -> Self {
        self.range.maximum = Some(maximum);
        self
    }

    /// Whether a page without items ends the paging even when the total says there is more (`true`).
    pub fn stop_after_empty_page(mut self, stop: bool) -> Self {
        self.range.stop_after_empty_page = stop;
        self
    }
}

impl Default for PageNumberPaginator {
    fn default() -> Self {
        Self::new()
    }
}

impl Paginator for PageNumberPaginator {
    fn init_request(&mut self, request: &mut PageRequest) {
        request.set_param(&self.page_param, self.page);
    }

    fn next_request(&mut self, page: &PageResponse<'_>, request: &mut PageRequest) -> Result<bool> {
        self.range.check_can_stop("PageNumberPaginator")?;
        if self.range.stop_after_empty_page && page.items.is_empty() {
            return Ok(false);
        }
        let total_pages = self.range.total(page, "PageNumberPaginator")?;
        let has_more = self.range.has_more(page, "PageNumberPaginator")?;
        self.page += 1;
        let past_total = total_pages.is_some_and(|t| self.page >= t + self.base_page);
        let past_maximum = self.range.maximum.is_some_and(|m| self.page > m);
        if past_total || past_maximum || has_more == Some(false) {
            return Ok(false);
        }
        request.set_param(&self.page_param, self.page);
        Ok(true)
    }
}

/// A cursor in the body (at `cursor_path`, `cursors.next` by default) sent back as a query parameter
/// (`cursor`); the last page has none: dlt's `JSONResponseCursorPaginator`.
#[derive(Debug, Clone)]
pub struct JsonResponseCursorPaginator {
    cursor_path: JsonPath,
    cursor_param: String,
}

impl JsonResponseCursorPaginator {
    /// Sends the cursor at `cursor_path` as parameter `cursor_param`.
    pub fn new(cursor_path: impl Into<JsonPath>, cursor_param: &str) -> Self {
        JsonResponseCursorPaginator {
            cursor_path: cursor_path.into(),
            cursor_param: cursor_param.to_owned(),
        }
    }
}

impl Default for JsonResponseCursorPaginator {
    fn default() -> Self {
        Self::new("cursors.next", "cursor")
    }
}

impl Paginator for JsonResponseCursorPaginator {
    fn next_request(&mut self, page: &PageResponse<'_>, request: &mut PageRequest) -> Result<bool> {
        let cursor = match self.cursor_path.find(page.body) {
            None | Some(Value::Null) => return Ok(false),
            Some(Value::String(s)) if s.is_empty() => return Ok(false),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => {
                return Err(unreadable(format!(
                    "the cursor at `{}` is not a string or a number: {other}",
                    self.cursor_path
                )));
            }
        };
        request.set_param(&self.cursor_param, cursor);
        Ok(true)
    }
}

/// The paginator used when none is given: decides on the first response, as dlt does. A `Link` header with
/// `rel="next"` is followed (header link); else a next URL in the body at `next`, `next_url`, `links.next`,
/// `paging.next` or `pagination.next` (JSON link); else the response is the only page.
#[derive(Debug, Default)]
pub(crate) struct AutoPaginator {
    chosen: Option<Box<dyn ChosenPaginator>>,
}

/// A paginator the auto-detection can hold (`Debug` for the paginator's own `Debug`).
trait ChosenPaginator: Paginator + fmt::Debug {}
impl<P: Paginator + fmt::Debug> ChosenPaginator for P {}

const NEXT_URL_PATHS: [&str; 5] = [
    "next",
    "next_url",
    "links.next",
    "paging.next",
    "pagination.next",
];

impl Paginator for AutoPaginator {
    fn next_request(&mut self, page: &PageResponse<'_>, request: &mut PageRequest) -> Result<bool> {
        if self.chosen.is_none() {
            let chosen: Box<dyn ChosenPaginator> = if link_with_rel(page.headers, "next").is_some()
            {
                Box::new(HeaderLinkPaginator::new())
            } else if let Some(path) = NEXT_URL_PATHS.iter().find(|p| {
                JsonPath::new(p)
                    .find(page.body)
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.starts_with("http") || s.starts_with('/'))
            }) {
                Box::new(JsonLinkPaginator::new(*path))
            } else {
                Box::new(SinglePagePaginator)
            };
            tracing::debug!(paginator = ?chosen, "paginator detected");
            self.chosen = Some(chosen);
        }
        match &mut self.chosen {
            Some(paginator) => paginator.next_request(page, request),
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;
    use serde_json::json;

    use super::*;

    fn request(url: &str) -> PageRequest {
        PageRequest::new(Url::parse(url).expect("a url"))
    }

    /// Runs `paginator` over `responses` (headers, body), returning the URLs it requested.
    fn walk(
        mut paginator: impl Paginator,
        start: &str,
        responses: &[(HeaderMap, Value)],
    ) -> Result<Vec<String>> {
        let mut request = request(start);
        paginator.init_request(&mut request);
        let mut urls = vec![request.url().to_string()];
        for (headers, body) in responses {
            let items = super::super::selector::select_items(body, None);
            let page = PageResponse {
                headers,
                body,
                items: &items,
            };
            if !paginator.next_request(&page, &mut request)? {
                return Ok(urls);
            }
            urls.push(request.url().to_string());
        }
        Ok(urls)
    }

    fn body(value: Value) -> (HeaderMap, Value) {
        (HeaderMap::new(), value)
    }

    fn link(value: &str) -> (HeaderMap, Value) {
        let mut headers = HeaderMap::new();
        headers.insert(LINK, HeaderValue::from_str(value).expect("ascii"));
        (headers, json!([1]))
    }

    #[test]
    fn single_page() {
        let urls = walk(
            SinglePagePaginator::new(),
            "http://h/x?a=1",
            &[body(json!([1]))],
        );
        assert_eq!(urls.expect("walks"), ["http://h/x?a=1"]);
    }

    #[test]
    fn json_link_follows_absolute_and_relative_links_until_null() {
        let urls = walk(
            JsonLinkPaginator::new("paging.next"),
            "http://h/v1/ads?fields=id",
            &[
                body(json!({"data": [1], "paging": {"next": "http://h/v1/ads?after=A"}})),
                body(json!({"data": [2], "paging": {"next": "/v1/ads?after=B"}})),
                body(json!({"data": [3], "paging": {"next": null}})),
            ],
        );
        assert_eq!(
            urls.expect("walks"),
            [
                "http://h/v1/ads?fields=id",
                "http://h/v1/ads?after=A",
                "http://h/v1/ads?after=B"
            ]
        );
        let missing = walk(
            JsonLinkPaginator::default(),
            "http://h/",
            &[body(json!({"data": []}))],
        );
        assert_eq!(missing.expect("walks").len(), 1);
        let bad = walk(
            JsonLinkPaginator::default(),
            "http://h/",
            &[body(json!({"next": 5}))],
        );
        assert!(bad.is_err());
    }

    #[test]
    fn header_link_parses_rfc_8288() {
        let urls = walk(
            HeaderLinkPaginator::new(),
            "http://h/events",
            &[
                link(
                    r#"<http://h/events?page=2>; rel="next", <http://h/events?page=5>; rel="last""#,
                ),
                link(r#"<http://h/events?page=1>; rel="prev first", </events?page=3>; rel=next"#),
                link(r#"<http://h/events?page=2>; rel="prev""#),
            ],
        );
        assert_eq!(
            urls.expect("walks"),
            [
                "http://h/events",
                "http://h/events?page=2",
                "http://h/events?page=3"
            ]
        );
        // A comma inside the URL does not split the entry.
        let mut headers = HeaderMap::new();
        headers.insert(
            LINK,
            HeaderValue::from_static(r#"<http://h/x?ids=1,2>; rel="next""#),
        );
        assert_eq!(
            link_with_rel(&headers, "next").as_deref(),
            Some("http://h/x?ids=1,2")
        );
        assert_eq!(link_with_rel(&HeaderMap::new(), "next"), None);
    }

    #[test]
    fn offset_stops_at_the_total_or_an_empty_page() {
        let urls = walk(
            OffsetPaginator::new(2),
            "http://h/items",
            &[
                body(json!({"items": [1, 2], "total": 5})),
                body(json!({"items": [3, 4], "total": 5})),
                body(json!({"items": [5], "total": 5})),
            ],
        );
        assert_eq!(
            urls.expect("walks"),
            [
                "http://h/items?offset=0&limit=2",
                "http://h/items?offset=2&limit=2",
                "http://h/items?offset=4&limit=2",
            ]
        );
        let urls = walk(
            OffsetPaginator::new(2)
                .without_total()
                .params("skip", "take"),
            "http://h/items",
            &[body(json!([1, 2])), body(json!([]))],
        );
        assert_eq!(
            urls.expect("walks"),
            [
                "http://h/items?skip=0&take=2",
                "http://h/items?skip=2&take=2"
            ]
        );
        let urls = walk(
            OffsetPaginator::new(2).without_total().maximum_offset(4),
            "http://h/items",
            &[
                body(json!([1, 2])),
                body(json!([3, 4])),
                body(json!([5, 6])),
            ],
        );
        assert_eq!(urls.expect("walks").len(), 2);
        let missing_total = walk(
            OffsetPaginator::new(2),
            "http://h/items",
            &[body(json!([1, 2]))],
        );
        let error = missing_total.expect_err("no total");
        assert!(error.to_string().contains("without_total"), "{error}");
    }

    #[test]
    fn has_more_ends_numbered_paging() {
        let urls = walk(
            OffsetPaginator::new(2)
                .without_total()
                .has_more_path("meta.has_more"),
            "http://h/items",
            &[
                body(json!({"data": [1, 2], "meta": {"has_more": true}})),
                body(json!({"data": [3, 4], "meta": {"has_more": "false"}})),
            ],
        );
        assert_eq!(urls.expect("walks").len(), 2);
        let urls = walk(
            PageNumberPaginator::new()
                .without_total()
                .has_more_path("has_more"),
            "http://h/items",
            &[body(json!({"data": [1], "has_more": false}))],
        );
        assert_eq!(urls.expect("walks").len(), 1);
        let missing = walk(
            PageNumberPaginator::new()
                .without_total()
                .has_more_path("has_more"),
            "http://h/items",
            &[body(json!({"data": [1]}))],
        );
        assert!(
            missing
                .expect_err("no has_more")
                .to_string()
                .contains("has_more")
        );
        let endless = walk(
            OffsetPaginator::new(2)
                .without_total()
                .stop_after_empty_page(false),
            "http://h/items",
            &[body(json!([1, 2]))],
        );
        assert!(endless.expect_err("never stops").is_config());
    }

    #[test]
    fn page_number_counts_from_the_base_page() {
        let urls = walk(
            PageNumberPaginator::new()
                .base_page(1)
                .total_path("meta.pages"),
            "http://h/items",
            &[
                body(json!({"data": [1], "meta": {"pages": 2}})),
                body(json!({"data": [2], "meta": {"pages": 2}})),
            ],
        );
        assert_eq!(
            urls.expect("walks"),
            ["http://h/items?page=1", "http://h/items?page=2"]
        );
        let urls = walk(
            PageNumberPaginator::new().without_total().page_param("p"),
            "http://h/items",
            &[body(json!([1])), body(json!([2])), body(json!([]))],
        );
        assert_eq!(
            urls.expect("walks"),
            [
                "http://h/items?p=0",
                "http://h/items?p=1",
                "http://h/items?p=2"
            ]
        );
        let urls = walk(
            PageNumberPaginator::new()
                .base_page(1)
                .without_total()
                .maximum_page(2),
            "http://h/items",
            &[body(json!([1])), body(json!([2])), body(json!([3]))],
        );
        assert_eq!(urls.expect("walks").len(), 2);
    }

    #[test]
    fn json_response_cursor_sends_the_cursor_back() {
        let urls = walk(
            JsonResponseCursorPaginator::new("meta.next_token", "next_token"),
            "http://h/search?q=rust",
            &[
                body(json!({"data": [1], "meta": {"next_token": "t2"}})),
                body(json!({"data": [2], "meta": {"next_token": 3}})),
                body(json!({"data": [3], "meta": {}})),
            ],
        );
        assert_eq!(
            urls.expect("walks"),
            [
                "http://h/search?q=rust",
                "http://h/search?q=rust&next_token=t2",
                "http://h/search?q=rust&next_token=3",
            ]
        );
    }

    #[test]
    fn auto_detects_header_links_body_links_or_a_single_page() {
        let urls = walk(
            AutoPaginator::default(),
            "http://h/e",
            &[
                link(r#"<http://h/e?page=2>; rel="next""#),
                link(r#"<http://h/e?page=1>; rel="prev""#),
            ],
        );
        assert_eq!(urls.expect("walks").len(), 2);
        let urls = walk(
            AutoPaginator::default(),
            "http://h/e",
            &[
                body(json!({"data": [1], "paging": {"next": "http://h/e?after=x"}})),
                body(json!({"data": [2]})),
            ],
        );
        assert_eq!(urls.expect("walks"), ["http://h/e", "http://h/e?after=x"]);
        let urls = walk(
            AutoPaginator::default(),
            "http://h/e",
            &[body(json!([1, 2]))],
        );
        assert_eq!(urls.expect("walks").len(), 1);
    }

    #[test]
    fn request_params_can_be_changed() {
        let secret = request("http://h/x?access_token=s3cr3t&a=1");
        assert_eq!(
            format!("{secret:?}"),
            "PageRequest(http://h/x?access_token=***&a=1)"
        );
        let mut r = request("http://h/x?a=1&b=2");
        r.set_param("a", 3);
        r.remove_param("b");
        assert_eq!(r.param("a").as_deref(), Some("3"));
        assert_eq!(r.url().as_str(), "http://h/x?a=3");
        r.remove_param("a");
        assert_eq!(r.url().as_str(), "http://h/x");
    }
}
