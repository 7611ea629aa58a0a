//! Sources: a named group of resources sharing source state and settings such as `root_key`.

use std::fmt;

use crate::error::{Error, Result};
use crate::resource::{DynResource, IntoResources, Resource, Resources};

/// A group of resources: dlt's `@dlt.source`. Its name is the state key of its resources
/// (`sources.<name>.resources.<resource>`), and `root_key` writes `_dlt_root_id` into the child tables of all of
/// them, so a replace load can later be merged into (the seed's facebook_ads example).
pub struct Source {
    name: String,
    root_key: bool,
    max_table_nesting: Option<usize>,
    resources: Vec<Box<dyn DynResource>>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("root_key", &self.root_key)
            .field("resources", &self.resource_names())
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
            resources: Vec::new(),
        }
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

    /// Names of the resources, in order.
    pub fn resource_names(&self) -> Vec<&str> {
        self.resources
            .iter()
            .map(|r| r.hints().name.as_str())
            .collect()
    }

    /// The resource named `name`, to change its hints.
    pub fn resource_mut(&mut self, name: &str) -> Option<&mut (dyn DynResource + 'static)> {
        self.resources
            .iter_mut()
            .find(|r| r.hints().name == name)
            .map(|r| &mut **r)
    }

    /// Keeps only the named resources, in the order given; an unknown name is an error listing the known ones.
    pub fn with_resources<I, S>(mut self, names: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut selected: Vec<Box<dyn DynResource>> = Vec::new();
        for name in names {
            let name = name.as_ref();
            let Some(pos) = self.resources.iter().position(|r| r.hints().name == name) else {
                let known: Vec<String> = self
                    .resource_names()
                    .into_iter()
                    .chain(selected.iter().map(|r| r.hints().name.as_str()))
                    .map(|n| format!("`{n}`"))
                    .collect();
                return Err(Error::config(format!(
                    "source `{}` has no resource `{name}`; its resources are {}",
                    self.name,
                    known.join(", ")
                )));
            };
            selected.push(self.resources.remove(pos));
        }
        self.resources = selected;
        Ok(self)
    }
}

impl IntoResources for Source {
    fn into_resources(self) -> Resources {
        let mut list = self.resources;
        if let Some(depth) = self.max_table_nesting {
            for r in &mut list {
                r.hints_mut().max_table_nesting.get_or_insert(depth);
            }
        }
        Resources {
            source_name: Some(self.name),
            root_key: self.root_key,
            list,
        }
    }
}
