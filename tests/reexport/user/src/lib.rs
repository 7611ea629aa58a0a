//! ele's macros used only through a re-exporting crate: `#[resource(crate = "...")]`, `#[source(crate = "...")]`
//! and `#[derive(Item)]` with `#[ele(crate = "...")]`, with the typed checks, typed accessors and config
//! parameters they generate. Compiled and tested by `cargo test --workspace`.

use ele::config::Secret;
use ele::{Emit, Incremental, Item, resource, source};
use ele_reexporter::ele;
use serde::Serialize;

/// A typed item: keys and cursor are checked against its fields at compile time.
#[derive(Serialize, Item)]
#[ele(crate = "ele_reexporter::ele")]
pub struct Event {
    /// The key.
    pub id: i64,
    /// The cursor.
    pub created_at: String,
}

/// Events newer than the last run, merged by id.
#[resource(
    crate = "ele_reexporter::ele",
    primary_key = "id",
    write_disposition = "merge",
    selected = false
)]
pub async fn events(
    out: Emit<Event>,
    count: i64,
    #[incremental(cursor = "created_at", initial_value = "1970-01-01T00:00:00Z")]
    created_at: Incremental<String>,
    #[secret] token: Secret<String>,
) -> ele::Result<()> {
    let _ = (created_at.start_value(), token.expose());
    for id in 0..count {
        out.send(Event {
            id,
            created_at: "2024-01-01T00:00:00Z".into(),
        })
        .await?;
    }
    Ok(())
}

/// A source with an accessor for `events`.
#[source(crate = "ele_reexporter::ele", root_key = true, resources(events))]
pub fn github(#[config] repo: String) -> impl ele::IntoResources {
    let _ = repo;
    events(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ele::{IntoResources, Resource, ResourceExt, WriteDisposition};

    #[test]
    fn the_macros_work_through_a_reexport() {
        let resource = events(3).token(Secret::new("t".into()));
        let hints = Resource::hints(&resource);
        assert_eq!(hints.write_disposition, WriteDisposition::Merge);
        assert!(!hints.selected);
        let resource = resource.selected(true);
        assert!(Resource::hints(&resource).selected);

        let mut source = github(Some("ele".into()));
        source.events().count(5).token(Secret::new("t".into()));
        assert!(source.has_root_key());
        assert_eq!(source.resource_names(), ["events"]);
        assert!(source.selected_resource_names().is_empty());
        let source = source.with_resources(["events"]).expect("known");
        assert_eq!(source.selected_resource_names(), ["events"]);
        let resources = source.into_resources();
        assert_eq!(resources.source_name.as_deref(), Some("github"));
        assert_eq!(resources.list.len(), 1);
    }
}
