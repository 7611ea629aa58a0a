//! `#[source]`: resources made in a loop, a fixed one, a tuple, a returned `Source`, every attribute key, the
//! `crate` path, borrowed and `impl Trait` arguments, and the selection of resources by name.
#![deny(warnings)]

use ele::DynResource;
use ele::prelude::*;
use serde_json::{Value, json};

mod reexport {
    pub use ::ele;
}

#[resource]
async fn endpoint(out: Emit<Value>, path: String) -> ele::Result<()> {
    out.send(json!({ "path": path })).await
}

#[resource(max_table_nesting = 5)]
async fn campaigns(out: Emit<Value>, token: String) -> ele::Result<()> {
    out.send(json!({ "token": token })).await
}

/// Facebook ads: one resource per endpoint, and the campaigns.
#[source(name = "facebook_ads", max_table_nesting = 2)]
pub fn facebook_ads(token: String, mut endpoints: Vec<&'static str>) -> Vec<Box<dyn DynResource>> {
    endpoints.sort_unstable();
    let mut v: Vec<Box<dyn DynResource>> = Vec::new();
    for e in endpoints {
        v.push(Box::new(endpoint(e.to_string()).name(e)));
    }
    v.push(Box::new(campaigns(token)));
    v
}

/// A tuple, under the function's name, with a root key.
#[source(root_key = true, crate = "crate::reexport::ele")]
pub(crate) fn pair(prefix: &str, suffix: impl Into<String>) -> impl ele::IntoResources {
    (
        endpoint(format!("{prefix}/a")).name("a"),
        endpoint(suffix.into()).name("b"),
    )
}

/// A source returned by the body keeps its root key; its name is the attribute's.
#[source(name = "renamed", root_key = false)]
fn nested((a, b): (&str, &str)) -> Source {
    Source::new("inner")
        .resource(endpoint(a.to_owned()).name("x"))
        .resource(endpoint(b.to_owned()).name("y"))
        .root_key(true)
}

fn main() {
    let s: Source = facebook_ads("token".to_owned(), vec!["b", "a"]).into();
    assert_eq!(s.name(), "facebook_ads");
    assert_eq!(s.resource_names(), ["a", "b", "campaigns"]);
    assert!(!s.has_root_key());

    let mut ads = facebook_ads("token".to_owned(), vec!["a", "b"])
        .with_resources(["b", "campaigns"])
        .expect("known resources");
    assert_eq!(ads.resource_names(), ["b", "campaigns", "a"]);
    assert_eq!(ads.selected_resource_names(), ["b", "campaigns"]);
    ads.set_root_key(true);
    assert!(ads.has_root_key());
    let resources = ele::IntoResources::into_resources(ads).selected();
    assert_eq!(resources.source_name.as_deref(), Some("facebook_ads"));
    assert!(resources.root_key);
    let nesting: Vec<_> = resources
        .list
        .iter()
        .map(|r| r.hints().max_table_nesting)
        .collect();
    assert_eq!(nesting, [Some(2), Some(5)]);

    let err = facebook_ads("token".to_owned(), vec!["a"])
        .with_resources(["ads"])
        .expect_err("no resource `ads`");
    let message = err.to_string();
    assert!(message.contains("`ads`"), "{message}");
    assert!(
        message.contains("`a`") && message.contains("`campaigns`"),
        "{message}"
    );

    let mut p = pair("root", "tail");
    assert_eq!(p.name(), "pair");
    assert!(p.has_root_key());
    assert!(p.resource_mut("a").is_some());

    let n = nested(("1", "2"));
    assert_eq!(n.name(), "renamed");
    assert_eq!(n.resource_names(), ["x", "y"]);
    assert!(n.has_root_key());
}
