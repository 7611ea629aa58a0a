//! Pipeline state: dlt's state document, kept in the working dir and committed with the data.
//!
//! Layout as in dlt (`state["sources"][source]["resources"][resource]`), so paths such as
//! `sources.<source>.resources.<resource>.incremental.<cursor>` mean the same in both. The local copy
//! (`state.json`) advances only after the destination committed the package carrying the new state.

use std::io::{Read, Write};
use std::path::Path;

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha3::{Digest, Sha3_256};

use crate::foundation::error::{Error, Result};

/// dlt's state engine version.
pub const STATE_ENGINE_VERSION: u64 = 4;

/// Local-only bookkeeping, never sent to the destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalState {
    /// Hash of the state last committed to the destination.
    #[serde(
        rename = "_last_extracted_hash",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_extracted_hash: Option<String>,
    /// The newest load id this working dir produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_load_id: Option<String>,
}

/// The pipeline state document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineState {
    /// Incremented whenever the content changes.
    #[serde(rename = "_state_version")]
    pub version: u64,
    /// Always [`STATE_ENGINE_VERSION`].
    #[serde(rename = "_state_engine_version")]
    pub engine_version: u64,
    /// Pipeline name.
    pub pipeline_name: String,
    /// Dataset name.
    pub dataset_name: String,
    /// Name of the pipeline's schema.
    pub default_schema_name: String,
    /// All schema names.
    pub schema_names: Vec<String>,
    /// Destination kind, as dlt names it.
    pub destination_type: String,
    /// Destination name: only set for a destination given its own name, so `null` (as dlt writes it).
    #[serde(default)]
    pub destination_name: Option<String>,
    /// Source and resource state: `sources.<source>.resources.<resource>....`; left out while empty, as dlt.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub sources: Map<String, Value>,
    /// Hash of the content (see [`PipelineState::content_hash`]).
    #[serde(rename = "_version_hash", default)]
    pub version_hash: String,
    /// Local bookkeeping.
    #[serde(rename = "_local", default)]
    pub local: LocalState,
    /// Keys of the document ele does not read (dlt's `staging_type`, ...), kept and committed as they were.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl PipelineState {
    /// A fresh state.
    pub fn new(
        pipeline_name: &str,
        dataset_name: &str,
        schema_name: &str,
        destination: &str,
    ) -> Self {
        PipelineState {
            version: 0,
            engine_version: STATE_ENGINE_VERSION,
            pipeline_name: pipeline_name.to_owned(),
            dataset_name: dataset_name.to_owned(),
            default_schema_name: schema_name.to_owned(),
            schema_names: vec![schema_name.to_owned()],
            destination_type: format!("dlt.destinations.{destination}"),
            destination_name: None,
            sources: Map::new(),
            version_hash: String::new(),
            local: LocalState::default(),
            other: Map::new(),
        }
    }

    /// The document as sent to the destination: without `_local`.
    pub fn document(&self) -> Value {
        let mut doc = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut doc {
            map.remove("_local");
        }
        doc
    }

    /// dlt's version hash: base64 of SHA3-256 over the sorted-keys JSON without the version fields and `_local`.
    pub fn content_hash(&self) -> String {
        let mut doc = self.document();
        if let Value::Object(map) = &mut doc {
            for k in ["_state_version", "_state_engine_version", "_version_hash"] {
                map.remove(k);
            }
        }
        let text = sorted_json(&doc);
        base64::engine::general_purpose::STANDARD.encode(Sha3_256::digest(text.as_bytes()))
    }

    /// Bumps the version when the content changed since the last bump; returns whether it did.
    pub fn bump_if_modified(&mut self) -> bool {
        let hash = self.content_hash();
        if hash == self.version_hash {
            return false;
        }
        self.version += 1;
        self.version_hash = hash;
        true
    }

    /// Reads the state from the file at `path` (a working dir's `state.json`), `None` when there is none.
    pub fn read_file(path: &Path) -> Result<Option<Self>> {
        let path = path.to_owned();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| Error::Corrupt {
                    what: "pipeline state",
                    path,
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("cannot read", path, e)),
        }
    }

    /// Writes the state to the file at `path` atomically.
    pub fn write_file(&self, path: &Path) -> Result<()> {
        crate::foundation::files::write_json_atomically(path, self)
    }

    /// The state object of a resource (created empty when missing).
    pub fn resource_state_mut(&mut self, source: &str, resource: &str) -> &mut Map<String, Value> {
        let source = object_entry(&mut self.sources, source);
        let resources = object_entry(source, "resources");
        object_entry(resources, resource)
    }

    /// The state object of a resource, if any.
    pub fn resource_state(&self, source: &str, resource: &str) -> Option<&Map<String, Value>> {
        self.sources
            .get(source)?
            .get("resources")?
            .get(resource)?
            .as_object()
    }
}

/// The object under `key` of `map`, created (or replacing a non-object) when missing.
pub(crate) fn object_entry<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> &'a mut Map<String, Value> {
    let entry = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(m) => m,
        _ => unreachable!("entry was just made an object"),
    }
}

/// The `_dlt_pipeline_state` row of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRow {
    /// `_state_version`.
    pub version: u64,
    /// `_state_engine_version`.
    pub engine_version: u64,
    /// Pipeline name.
    pub pipeline_name: String,
    /// base64 of the zlib-compressed JSON document, as dlt encodes it.
    pub state: String,
    /// `_version_hash`.
    pub version_hash: String,
}

impl StateRow {
    /// Encodes a state for the destination.
    pub fn encode(state: &PipelineState) -> Result<Self> {
        let json = serde_json::to_vec(&state.document())?;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(9));
        z.write_all(&json)
            .map_err(|e| Error::internal(format!("cannot compress state: {e}")))?;
        let compressed = z
            .finish()
            .map_err(|e| Error::internal(format!("cannot compress state: {e}")))?;
        Ok(StateRow {
            version: state.version,
            engine_version: state.engine_version,
            pipeline_name: state.pipeline_name.clone(),
            state: base64::engine::general_purpose::STANDARD.encode(compressed),
            version_hash: state.version_hash.clone(),
        })
    }

    /// Decodes the state document of a stored row (base64 + zlib, or plain JSON).
    pub fn decode(encoded: &str) -> Result<PipelineState> {
        let bad = |m: String| Error::Corrupt {
            what: "stored pipeline state",
            path: "_dlt_pipeline_state".into(),
            message: m,
        };
        let json = if encoded.trim_start().starts_with('{') {
            encoded.as_bytes().to_vec()
        } else {
            let compressed = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|e| bad(e.to_string()))?;
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(&compressed[..])
                .read_to_end(&mut out)
                .map_err(|e| bad(e.to_string()))?;
            out
        };
        serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))
    }
}

/// Compact JSON with object keys sorted, for hashing.
fn sorted_json(value: &Value) -> String {
    fn sort(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sort(&map[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(value).to_string()
}

macro_rules! state_handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Default)]
        pub struct $name {
            map: std::sync::Arc<std::sync::Mutex<Map<String, Value>>>,
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).field("state", &*self.lock()).finish()
            }
        }

        impl $name {
            pub(crate) fn new(map: Map<String, Value>) -> Self {
                $name { map: std::sync::Arc::new(std::sync::Mutex::new(map)) }
            }

            fn lock(&self) -> std::sync::MutexGuard<'_, Map<String, Value>> {
                self.map.lock().unwrap_or_else(|p| p.into_inner())
            }

            /// A copy of the whole state object.
            pub fn snapshot(&self) -> Map<String, Value> {
                self.lock().clone()
            }

            /// The value under `key`, `None` when absent.
            pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
                match self.lock().get(key) {
                    None => Ok(None),
                    Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| {
                        Error::config(format!("state value `{key}` has an unexpected type: {e}"))
                    }),
                }
            }

            /// The value under `key`, or `T::default()` when absent (dlt's `setdefault`).
            pub fn get_or_default<T: DeserializeOwned + Default>(&self, key: &str) -> Result<T> {
                Ok(self.get(key)?.unwrap_or_default())
            }

            /// Stores `value` under `key`; it is committed with the data of this run.
            pub fn set<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
                let value = serde_json::to_value(value)?;
                self.lock().insert(key.to_owned(), value);
                Ok(())
            }

            /// Changes the value under `key` in place (starting from the default when absent).
            pub fn update<T, R>(&self, key: &str, f: impl FnOnce(&mut T) -> R) -> Result<R>
            where
                T: Serialize + DeserializeOwned + Default,
            {
                let mut value: T = self.get_or_default(key)?;
                let result = f(&mut value);
                self.set(key, &value)?;
                Ok(result)
            }

            /// Removes `key`.
            pub fn remove(&self, key: &str) {
                self.lock().remove(key);
            }
        }
    };
}

state_handle!(
    /// The state of one resource (`sources.<source>.resources.<resource>`): read and changed by the resource
    /// body, committed with the data. A parameter `state: ResourceState` of a `#[resource]` is bound to it.
    ResourceState
);
state_handle!(
    /// The state shared by the resources of a source (`sources.<source>`), dlt's `dlt.current.state()`.
    SourceState
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_document_has_dlt_shape() {
        let mut state = PipelineState::new("p", "p_dataset", "p", "postgres");
        let doc = state.document();
        assert_eq!(doc["destination_type"], "dlt.destinations.postgres");
        assert!(doc["destination_name"].is_null(), "{doc}");
        assert!(doc.get("sources").is_none(), "no empty sources: {doc}");
        assert!(doc.get("_local").is_none());
        state.sources.insert("p".into(), Value::Object(Map::new()));
        assert_eq!(state.document()["sources"], serde_json::json!({"p": {}}));
    }

    #[test]
    fn keys_and_sources_ele_does_not_know_are_kept() {
        let doc = serde_json::json!({
            "_state_version": 3, "_state_engine_version": 4, "pipeline_name": "p", "dataset_name": "d",
            "default_schema_name": "p", "schema_names": ["p"], "destination_type": "dlt.destinations.postgres",
            "destination_name": null, "staging_type": "dlt.destinations.filesystem",
            "sources": {"other_source": {"resources": {"r": {"incremental": {"x": {"last_value": 5}}}}}},
            "_version_hash": "h", "_local": {"first_run": false, "_last_extracted_hash": "h"}
        });
        let state: PipelineState = serde_json::from_value(doc).expect("reads");
        let committed = state.document();
        assert_eq!(committed["staging_type"], "dlt.destinations.filesystem");
        assert_eq!(
            committed["sources"]["other_source"]["resources"]["r"]["incremental"]["x"]["last_value"],
            5
        );
        let row = StateRow::encode(&state).expect("encodes");
        assert_eq!(
            StateRow::decode(&row.state).expect("decodes").document(),
            committed
        );
    }
}
