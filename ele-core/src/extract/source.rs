//! Sources: a named group of resources sharing source state and settings such as `root_key`.

use std::fmt;

use serde_json::Value;

use crate::extract::resource::{DynResource, Emit, FnResource, IntoResources, Resource, Resources};
use crate::foundation::error::{Error, Result};

/// The handle a `#[source]` struct's accessor returns for a resource of this type (`AdsResourceMut<'_>` for the
/// `ads` resource), with one setter per argument. Implemented by `#[resource]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not made by a `#[resource]` function",
    label = "listed in `#[source(resources(...))]`",
    note = "list the names of `#[resource]` functions whose resources the source function returns, e.g. `resources(ads, campaigns)`"
)]
pub trait Accessor: Resource {
    /// The handle, borrowing the resource.
    type Mut<'a>;

    /// The handle on `resource`; `None` when the source does not hold one (its setters then do nothing, and the
    /// source reports why).
    fn access(resource: Option<&mut Self>) -> Self::Mut<'_>;
}

/// A group of resources: dlt's `@dlt.source`. Its name is the state key of its resources
/// (`sources.<name>.resources.<resource>`), and `root_key` writes `_dlt_root_id` into the child tables of all of
/// them, so a replace load can later be merged into (the seed's facebook_ads example).
///
/// A run extracts the *selected* resources only: every resource is selected unless its `selected` hint is
/// `false` (`#[resource(selected = false)]`, [`ResourceExt::selected`](crate::extract::resource::ResourceExt::selected)),
/// and [`Source::with_resources`] selects exactly the resources it names.
pub struct Source {
    name: String,
    root_key: bool,
    max_table_nesting: Option<usize>,
    schema_contract: Option<crate::model::contract::SchemaContract>,
    resources: Vec<Box<dyn DynResource>>,
    /// Why the source could not be built (a missing configuration value, a listed resource the function did not
    /// return): reported by [`Source::with_resources`] and by a run.
    error: Option<String>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("root_key", &self.root_key)
            .field("resources", &self.resource_names())
            .field("selected", &self.selected_resource_names())
            .finish()
    }
}

impl Source {
    /// An empty source named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Source {
            name: name.into(),
            root_key: false,
            max_table_nesting: None,
            schema_contract: None,
            resources: Vec::new(),
            error: None,
        }
    }

    /// A source named `name` that could not be built: [`Source::with_resources`] returns `message` as an error,
    /// and a run of it fails with it. `#[source]` returns one when a configuration value is missing.
    pub fn failed(name: impl Into<String>, message: impl Into<String>) -> Self {
        let mut source = Source::new(name);
        source.error = Some(message.into());
        source
    }

    /// Records why the source is not usable (see [`Source::failed`]); a second message is appended.
    pub fn fail(&mut self, message: impl Into<String>) {
        let message = message.into();
        self.error = Some(match self.error.take() {
            Some(first) => format!("{first}; {message}"),
            None => message,
        });
    }

    /// Why the source could not be built, if it could not.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Adds a resource (fixed ones and ones created in a loop alike).
    pub fn resource(mut self, resource: impl Resource) -> Self {
        self.push(resource);
        self
    }

    /// Adds a resource.
    pub fn push(&mut self, resource: impl Resource) {
        self.resources.push(Box::new(resource));
    }

    /// Adds an already boxed resource.
    pub fn push_boxed(&mut self, resource: Box<dyn DynResource>) {
        self.resources.push(resource);
    }

    /// The source name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes `_dlt_root_id` into the child tables of every resource (dlt's `source.root_key = True`).
    pub fn root_key(mut self, enabled: bool) -> Self {
        self.root_key = enabled;
        self
    }

    /// Same as [`Source::root_key`], on a borrowed source.
    pub fn set_root_key(&mut self, enabled: bool) {
        self.root_key = enabled;
    }

    /// Whether root keys are propagated.
    pub fn has_root_key(&self) -> bool {
        self.root_key
    }

    /// Limits the nesting of every resource that does not set its own.
    pub fn max_table_nesting(mut self, depth: usize) -> Self {
        self.max_table_nesting = Some(depth);
        self
    }

    /// Sets the schema contract of every resource that does not set its own (dlt's `@dlt.source(schema_contract=...)`;
    /// a resource's own contract takes precedence, a run's overrides both).
    pub fn schema_contract(
        mut self,
        contract: impl Into<crate::model::contract::SchemaContract>,
    ) -> Self {
        self.schema_contract = Some(contract.into());
        self
    }

    /// Limits every resource of the source to `n` yields (dlt's `source.add_limit(n)`); see
    /// [`ResourceExt::limit`](crate::extract::resource::ResourceExt::limit).
    pub fn limit(mut self, n: u64) -> Self {
        for resource in &mut self.resources {
            let limit = &mut resource.hints_mut().limit;
            limit.max_items = Some(n);
            limit.count_rows = false;
        }
        self
    }

    /// Limits every resource of the source to `n` rows (dlt's `add_limit(n, count_rows=True)`).
    pub fn limit_rows(mut self, n: u64) -> Self {
        for resource in &mut self.resources {
            let limit = &mut resource.hints_mut().limit;
            limit.max_items = Some(n);
            limit.count_rows = true;
        }
        self
    }

    /// Stops every resource of the source at its first yield after `duration` (dlt's `add_limit(max_time=...)`).
    pub fn limit_time(mut self, duration: std::time::Duration) -> Self {
        for resource in &mut self.resources {
            resource.hints_mut().limit.max_time = Some(duration);
        }
        self
    }

    /// Names of the resources, selected or not, in order.
    pub fn resource_names(&self) -> Vec<&str> {
        self.resources
            .iter()
            .map(|r| r.hints().name.as_str())
            .collect()
    }

    /// Names of the resources a run extracts, in order.
    pub fn selected_resource_names(&self) -> Vec<&str> {
        self.resources
            .iter()
            .filter(|r| r.hints().selected)
            .map(|r| r.hints().name.as_str())
            .collect()
    }

    /// The first resource of type `R`, also inside a wrapper (`table_name_fn`); the typed accessors of a
    /// `#[source]` struct find their resources so.
    pub fn resource_of_type_mut<R: Resource>(&mut self) -> Option<&mut R> {
        fn find<R: Resource>(resource: &mut dyn DynResource) -> Option<&mut R> {
            if resource.as_any_mut().is::<R>() {
                return resource.as_any_mut().downcast_mut::<R>();
            }
            resource.wrapped_mut().and_then(find::<R>)
        }
        self.resources.iter_mut().find_map(|r| find::<R>(&mut **r))
    }

    /// The resource named `name`, to change its hints.
    pub fn resource_mut(&mut self, name: &str) -> Option<&mut (dyn DynResource + 'static)> {
        self.resources
            .iter_mut()
            .find(|r| r.hints().name == name)
            .map(|r| &mut **r)
    }

    /// Selects exactly the named resources (dlt's `with_resources`), deselected ones included, and deselects
    /// the others; the named ones come first, in the order given. An unknown name is an error listing the known
    /// ones, and so is a source that could not be built ([`Source::failed`]).
    pub fn with_resources<I, S>(mut self, names: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if let Some(error) = &self.error {
            return Err(Error::config(error.clone()));
        }
        let mut picked: Vec<Box<dyn DynResource>> = Vec::new();
        for name in names {
            let name = name.as_ref();
            if picked.iter().any(|r| r.hints().name == name) {
                continue;
            }
            let Some(pos) = self.resources.iter().position(|r| r.hints().name == name) else {
                let known: Vec<String> = picked
                    .iter()
                    .chain(self.resources.iter())
                    .map(|r| format!("`{}`", r.hints().name))
                    .collect();
                return Err(Error::config(format!(
                    "source `{}` has no resource `{name}`; its resources are {}",
                    self.name,
                    known.join(", ")
                )));
            };
            let mut resource = self.resources.remove(pos);
            resource.hints_mut().selected = true;
            picked.push(resource);
        }
        for rest in &mut self.resources {
            rest.hints_mut().selected = false;
        }
        picked.append(&mut self.resources);
        self.resources = picked;
        Ok(self)
    }
}

impl IntoResources for Source {
    fn into_resources(self) -> Resources {
        if let Some(message) = self.error {
            // The run fails with the message before anything is loaded.
            let failing = FnResource::new(self.name.clone(), move |_: Emit<Value>| async move {
                Err(Error::config(message))
            });
            return Resources {
                source_name: Some(self.name),
                root_key: self.root_key,
                list: vec![Box::new(failing)],
            };
        }
        // Deselected resources stay in the list, flagged: the pipeline drops them ([`Resources::selected`]), after
        // a `--resources` selection of the `ele` facade could still pick them.
        let mut list = self.resources;
        if let Some(depth) = self.max_table_nesting {
            for r in &mut list {
                r.hints_mut().max_table_nesting.get_or_insert(depth);
            }
        }
        if let Some(contract) = self.schema_contract {
            for r in &mut list {
                r.hints_mut().schema_contract.get_or_insert(contract);
            }
        }
        Resources {
            source_name: Some(self.name),
            root_key: self.root_key,
            list,
        }
    }
}
