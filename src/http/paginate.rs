//! The pages of one path: query parameters (incremental ones among them), a paginator, a data selector, and
//! the [`Stream`] that requests them one after the other.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::BoxStream;
use reqwest::Url;
use serde_json::Value;

use super::client::RestClient;
use super::page::Page;
use super::paginator::SinglePagePaginator;
use super::paginator::{AutoPaginator, PageRequest, PageResponse, Paginator};
use super::selector::{JsonPath, select_items};
use super::url::set_param;
use crate::{Cursor, Error, Incremental, Result};

/// A check that ends the paging: the resource reported its incremental out of range.
type StopCheck = Box<dyn Fn() -> bool + Send + Sync>;

/// A value of a query parameter: text, a number, or an [`Incremental`] (its `start_value()`).
pub trait QueryValue {
    /// The parameter's text; `None` leaves the parameter out.
    fn query_value(&self) -> Option<String>;

    /// For an incremental: a check that tells when the items sent went out of its range, which ends the paging.
    fn stop_check(&self) -> Option<Box<dyn Fn() -> bool + Send + Sync>> {
        None
    }
}

macro_rules! display_query_value {
    ($($t:ty),*) => {$(
        impl QueryValue for $t {
            fn query_value(&self) -> Option<String> {
                Some(self.to_string())
            }
        }
    )*};
}
display_query_value!(&str, String, &String, i32, i64, u32, u64, usize, f64, bool);

impl<T: QueryValue> QueryValue for Option<T> {
    fn query_value(&self) -> Option<String> {
        self.as_ref().and_then(QueryValue::query_value)
    }
}

/// `start_value()` of the incremental, formatted for the cursor's type (a string as it is, a number in
/// decimal, a date-time in RFC 3339); and paging stops once the items sent are out of its range.
impl<T: Cursor> QueryValue for &Incremental<T> {
    fn query_value(&self) -> Option<String> {
        self.start_value().and_then(|v| cursor_text(&v))
    }

    fn stop_check(&self) -> Option<StopCheck> {
        let incremental = (*self).clone();
        Some(Box::new(move || {
            incremental.start_out_of_range() || incremental.end_out_of_range()
        }))
    }
}

/// A cursor value as query parameter text.
fn cursor_text<T: Cursor>(value: &T) -> Option<String> {
    match serde_json::to_value(value).ok()? {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

/// The pages of a path, as a [`Stream`] of [`Page`]s: made by [`RestClient::paginate`], set up with the
/// builder methods, read with [`Self::next_page`] (or `StreamExt::next`).
///
/// ```no_run
/// # use ele::prelude::*;
/// # use ele::http::RestClient;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Issue { id: i64 }
/// # async fn body(out: Emit<Issue>, created_at: Incremental<String>) -> ele::Result<()> {
/// let github = RestClient::new("https://api.github.com")?;
/// let mut pages = github
///     .paginate("/repos/dlt-hub/dlt/issues")
///     .param("per_page", 100)
///     .param("since", &created_at);
/// while let Some(page) = pages.next_page().await {
///     out.send(page?.items::<Issue>()?).await?;
/// }
/// # Ok(())
/// # }
/// ```
#[must_use = "a Paginate requests nothing until it is read"]
pub struct Paginate {
    setup: Option<Setup>,
    pages: Option<BoxStream<'static, Result<Page>>>,
}

struct Setup {
    client: RestClient,
    url: std::result::Result<Url, String>,
    paginator: Option<Box<dyn Paginator>>,
    selector: Option<JsonPath>,
    stop_checks: Vec<StopCheck>,
    max_pages: Option<usize>,
}

impl RestClient {
    /// The pages of `path` (relative to the base URL, or a full URL): add query parameters and a paginator,
    /// then read it as a [`Stream`](futures::Stream) of pages or with [`Paginate::next_page`].
    pub fn paginate(&self, path: &str) -> Paginate {
        Paginate::new(self.clone(), self.url(path))
    }

    /// One `GET` of `path` with `query`, through the retries: the page's body and items.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Page> {
        let mut pages = self.paginate(path).paginator(SinglePagePaginator::new());
        for (name, value) in query {
            pages = pages.param(name, *value);
        }
        match pages.next_page().await {
            Some(page) => page,
            None => Err(Error::internal("a single page request yielded no page")),
        }
    }
}

impl Paginate {
    pub(crate) fn new(client: RestClient, url: std::result::Result<Url, String>) -> Paginate {
        Paginate {
            setup: Some(Setup {
                client,
                url,
                paginator: None,
                selector: None,
                stop_checks: Vec::new(),
                max_pages: None,
            }),
            pages: None,
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Setup)) -> Self {
        if let Some(setup) = &mut self.setup {
            change(setup);
        }
        self
    }

    /// Query parameter `name` (left out when the value is `None`). With an [`Incremental`]
    /// (`.param("since", &created_at)`) it is the start value, and paging stops after the page whose items
    /// went out of the incremental's range (`start_out_of_range()` or `end_out_of_range()`).
    pub fn param(self, name: &str, value: impl QueryValue) -> Self {
        let text = value.query_value();
        let check = value.stop_check();
        self.with(|setup| {
            if let (Ok(url), Some(text)) = (&mut setup.url, text) {
                set_param(url, name, &text);
            }
            setup.stop_checks.extend(check);
        })
    }

    /// Query parameter `name` from the incremental's `end_value()`, when it has one (a backfill chunk); paging
    /// stops once its items go out of range.
    pub fn end_param<T: Cursor>(self, name: &str, incremental: &Incremental<T>) -> Self {
        let text = incremental.end_value().and_then(|v| cursor_text(&v));
        let check = incremental.stop_check();
        self.with(|setup| {
            if let (Ok(url), Some(text)) = (&mut setup.url, text) {
                set_param(url, name, &text);
            }
            setup.stop_checks.extend(check);
        })
    }

    /// Stops after the page whose items went out of the incremental's range, for an API that cannot filter
    /// (GitHub's events, newest first): no parameter is sent.
    pub fn until_out_of_range<T: Cursor>(self, incremental: &Incremental<T>) -> Self {
        let check = incremental.stop_check();
        self.with(|setup| setup.stop_checks.extend(check))
    }

    /// The paginator; by default it is detected from the first response (a `Link` header, a next URL in the
    /// body, or a single page).
    pub fn paginator(self, paginator: impl Paginator + 'static) -> Self {
        self.with(|setup| setup.paginator = Some(Box::new(paginator)))
    }

    /// Where the items are in the body, a JSON path (`"data"`, `"results.items"`); by default the body when it
    /// is a list, or the one list field of an object.
    pub fn data_selector(self, path: impl Into<JsonPath>) -> Self {
        let path = path.into();
        self.with(|setup| setup.selector = Some(path))
    }

    /// Requests at most `pages` pages.
    pub fn max_pages(self, pages: usize) -> Self {
        self.with(|setup| setup.max_pages = Some(pages))
    }

    /// The next page; `None` after the last one (or after an error).
    pub async fn next_page(&mut self) -> Option<Result<Page>> {
        futures::StreamExt::next(self).await
    }

    /// Every page's items as `T`, in order, in one `Vec` (for small collections).
    pub async fn collect_items<T: serde::de::DeserializeOwned>(mut self) -> Result<Vec<T>> {
        let mut items = Vec::new();
        while let Some(page) = self.next_page().await {
            items.extend(page?.items::<T>()?);
        }
        Ok(items)
    }
}

impl fmt::Debug for Paginate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Paginate");
        if let Some(setup) = &self.setup {
            match &setup.url {
                Ok(url) => debug.field("url", &setup.client.shown_url(url)),
                Err(path) => debug.field("url", path),
            };
            debug.field("data_selector", &setup.selector);
        }
        debug.finish_non_exhaustive()
    }
}

impl Stream for Paginate {
    type Item = Result<Page>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.pages.is_none()
            && let Some(setup) = self.setup.take()
        {
            self.pages = Some(Box::pin(setup.into_stream()));
        }
        match &mut self.pages {
            Some(pages) => pages.as_mut().poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

/// Where the paging is.
struct Walk {
    client: RestClient,
    request: PageRequest,
    paginator: Box<dyn Paginator>,
    selector: Option<JsonPath>,
    stop_checks: Vec<StopCheck>,
    max_pages: Option<usize>,
    fetched: usize,
    done: bool,
}

impl Setup {
    fn into_stream(self) -> impl Stream<Item = Result<Page>> + Send + 'static {
        let start = match self.url {
            Ok(url) => {
                let mut request = PageRequest::new(url);
                let mut paginator = self
                    .paginator
                    .unwrap_or_else(|| Box::new(AutoPaginator::default()));
                paginator.init_request(&mut request);
                Ok(Walk {
                    client: self.client,
                    request,
                    paginator,
                    selector: self.selector,
                    stop_checks: self.stop_checks,
                    max_pages: self.max_pages,
                    fetched: 0,
                    done: false,
                })
            }
            Err(path) => Err(Error::config(format!(
                "`{path}` cannot be joined to the base URL `{}`",
                self.client.base_url()
            ))),
        };
        futures::stream::unfold(Some(start), |state| async move {
            match state? {
                Err(error) => Some((Err(error), None)),
                Ok(mut walk) => {
                    let page = walk.next().await?;
                    let next = match &page {
                        Ok(_) if !walk.done => Some(Ok(walk)),
                        _ => None,
                    };
                    Some((page, next))
                }
            }
        })
    }
}

impl Walk {
    /// The next page, `None` when the paging is over.
    async fn next(&mut self) -> Option<Result<Page>> {
        if self.done
            || self.max_pages.is_some_and(|max| self.fetched >= max)
            || (self.fetched > 0 && self.stop_checks.iter().any(|stopped| stopped()))
        {
            return None;
        }
        let fetched = match self.client.get_json(self.request.url()).await {
            Ok(fetched) => fetched,
            Err(error) => return Some(Err(error)),
        };
        self.fetched += 1;
        let items = select_items(&fetched.body, self.selector.as_ref());
        let response = PageResponse {
            headers: &fetched.headers,
            body: &fetched.body,
            items: &items,
        };
        match self.paginator.next_request(&response, &mut self.request) {
            Ok(more) => self.done = !more,
            Err(error) => return Some(Err(error)),
        }
        Some(Ok(Page {
            number: self.fetched,
            url: fetched.shown_url,
            status: fetched.status,
            headers: fetched.headers,
            body: fetched.body,
            items,
            retries: fetched.retries,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_values_as_query_text() {
        assert_eq!(
            cursor_text(&"2024-01-01T00:00:00Z".to_owned()).as_deref(),
            Some("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            cursor_text(&1_700_000_000i64).as_deref(),
            Some("1700000000")
        );
        assert_eq!(cursor_text(&serde_json::json!(null)), None);
        let date = chrono::NaiveDate::from_ymd_opt(2024, 3, 1).expect("a date");
        assert_eq!(cursor_text(&date).as_deref(), Some("2024-03-01"));
    }

    #[test]
    fn an_unbound_incremental_sends_its_initial_value() {
        let created: Incremental<String> =
            Incremental::range("2022-07-01T00:00:00Z", "2022-08-01T00:00:00Z");
        assert_eq!(
            (&created).query_value().as_deref(),
            Some("2022-07-01T00:00:00Z")
        );
        let check = (&created).stop_check().expect("a check");
        assert!(!check(), "an unbound incremental is never out of range");
        let none: Incremental<i64> = Incremental::new("created");
        assert_eq!((&none).query_value(), None);
    }
}
