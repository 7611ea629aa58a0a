//! `#[source(resources(...))]`: typed accessors with one setter per argument (dlt's `fb_ads.ads.bind(states=...)`),
//! `selected = false`, `with_resources`, and `#[config]`/`#[secret]` parameters of sources and resources.
#![deny(warnings)]

use ele::config::Config;
use ele::prelude::*;
use serde_json::{Value, json};

mod api {
    use ele::prelude::*;
    use serde_json::{Value, json};

    #[resource(primary_key = "id", write_disposition = "replace")]
    pub async fn ads(
        out: Emit<Value>,
        token: Secret<String>,
        states: Vec<String>,
        #[incremental(cursor = "updated")] updated: Incremental<i64>,
        #[config] page_size: u32,
    ) -> ele::Result<()> {
        let _ = (token.expose(), updated.start_value());
        out.send(json!({ "id": 1, "states": states, "page_size": page_size }))
            .await
    }
}

#[resource(selected = false)]
async fn campaigns(out: Emit<Value>, #[secret] token: Secret<String>) -> ele::Result<()> {
    let _ = token.expose();
    out.send(json!({ "id": 1 })).await
}

/// The seed's facebook_ads source.
#[source(root_key = true, resources(api::ads, campaigns))]
pub fn facebook_ads(#[secret] access_token: Secret<String>) -> impl ele::IntoResources {
    (
        api::ads(access_token.clone(), vec!["ACTIVE".into()]),
        campaigns(),
    )
}

/// Lists a resource that its body does not return.
#[source(resources(campaigns))]
fn only_ads(#[config] region: String) -> impl ele::IntoResources {
    api::ads(Secret::new(region), vec![])
}

fn main() {
    let mut fb = facebook_ads(Some(Secret::new("t0ken".to_owned())));
    fb.ads()
        .states(vec!["DISAPPROVED".into()])
        .page_size(50)
        .updated(Incremental::range(10, 20));
    fb.campaigns().token(Secret::new("t0ken".into()));
    assert_eq!(fb.name(), "facebook_ads");
    assert!(fb.has_root_key());
    assert_eq!(fb.resource_names(), ["ads", "campaigns"]);
    // `selected = false`: not extracted unless picked.
    assert_eq!(fb.selected_resource_names(), ["ads"]);
    let fb = fb.with_resources(["campaigns"]).expect("known resource");
    assert_eq!(fb.selected_resource_names(), ["campaigns"]);
    assert!(!format!("{fb:?}").contains("t0ken"));
    let err = fb.with_resources(["ad"]).expect_err("unknown resource");
    assert!(err.to_string().contains("`campaigns`, `ads`"), "{err}");

    // A config parameter of a source: `None` looks it up; the missing value is reported when it is used.
    Config::load_from("/nonexistent")
        .expect("no files")
        .with_env([("SOURCES__ONLY_ADS__REGION", "eu")])
        .install();
    let source = only_ads(None);
    let err = source.with_resources(["ads"]).expect_err("campaigns not returned");
    assert!(err.to_string().contains("no `campaigns` resource"), "{err}");
    Config::load_from("/nonexistent")
        .expect("no files")
        .with_env(Vec::<(String, String)>::new())
        .install();
    let err = facebook_ads(None)
        .with_resources(["ads"])
        .expect_err("missing secret");
    let message = err.to_string();
    assert!(
        message.contains("missing secret `access_token` of source `facebook_ads`")
            && message.contains("environment variable SOURCES__FACEBOOK_ADS__ACCESS_TOKEN")
            && message.contains("environment variable ACCESS_TOKEN"),
        "{message}"
    );
}
