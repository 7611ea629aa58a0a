//! One page of a paginated response.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Error, Result};

/// A page: its items (found by the data selector), the whole body, and the response's status and headers.
#[derive(Debug, Clone)]
pub struct Page {
    pub(crate) number: usize,
    pub(crate) url: String,
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
    pub(crate) items: Vec<Value>,
    pub(crate) retries: u32,
}

impl Page {
    /// The items as `T`, e.g. `page.items::<Issue>()?`; an error names the page and the item that does not fit.
    pub fn items<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                T::deserialize(item).map_err(|e| Error::Http {
                    message: format!(
                        "GET {}: item {i} of page {} is not a `{}`: {e}",
                        self.url,
                        self.number,
                        std::any::type_name::<T>()
                    ),
                    status: Some(self.status.as_u16()),
                    transient: false,
                    source: None,
                })
            })
            .collect()
    }

    /// The items as JSON.
    pub fn values(&self) -> &[Value] {
        &self.items
    }

    /// The items as JSON, taken out of the page.
    pub fn into_values(self) -> Vec<Value> {
        self.items
    }

    /// The whole JSON body (`null` when the response had none).
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// The response headers (rate limits, links, ...).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The page's URL as shown in messages (secret query parameters as `***`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// 1 for the first page, then 2, 3, ...
    pub fn number(&self) -> usize {
        self.number
    }

    /// How many times the request of this page was retried.
    pub fn retries(&self) -> u32 {
        self.retries
    }
}
