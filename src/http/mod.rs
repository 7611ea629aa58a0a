//! `ele::http` (feature `http`, on by default): a REST client for resources that read web APIs, the Rust
//! counterpart of dlt's `rest_client`.
//!
//! A [`RestClient`] has a base URL, default headers, [`Auth`] (bearer token, API key in a header or the query,
//! HTTP basic, OAuth2 client credentials; every credential a [`Secret`](crate::Secret)), a per-request timeout
//! and a [`RetryPolicy`]. [`RestClient::paginate`] reads a path page by page with a [`Paginator`] (dlt's,
//! or your own), finds each page's items with a data selector, and binds query parameters to an
//! [`Incremental`](crate::Incremental):
//!
//! ```no_run
//! use ele::http::{HeaderLinkPaginator, RestClient};
//! use ele::prelude::*;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Issue {
//!     id: i64,
//!     title: String,
//!     updated_at: String,
//! }
//!
//! #[resource(primary_key = "id", write_disposition = "merge")]
//! async fn issues(
//!     out: Emit<Issue>,
//!     github: RestClient,
//!     #[incremental(cursor = "updated_at", initial_value = "2024-01-01T00:00:00Z")]
//!     updated_at: Incremental<String>,
//! ) -> ele::Result<()> {
//!     let mut pages = github
//!         .paginate("/repos/dlt-hub/dlt/issues")
//!         .param("since", &updated_at)
//!         .param("per_page", 100)
//!         .paginator(HeaderLinkPaginator::new());
//!     while let Some(page) = pages.next_page().await {
//!         out.send(page?.items::<Issue>()?).await?;
//!     }
//!     Ok(())
//! }
//! ```
mod auth;
mod client;
mod page;
mod paginate;
mod paginator;
mod retry;
mod selector;
mod url;

pub use auth::Auth;
pub use client::{RestClient, RestClientBuilder};
pub use page::Page;
pub use paginate::{Paginate, QueryValue};
pub use paginator::{
    HeaderLinkPaginator, JsonLinkPaginator, JsonResponseCursorPaginator, OffsetPaginator,
    PageNumberPaginator, PageRequest, PageResponse, Paginator, SinglePagePaginator,
};
pub use reqwest::header::HeaderMap;
pub use reqwest::{StatusCode, Url};
pub use retry::RetryPolicy;
pub use selector::JsonPath;
