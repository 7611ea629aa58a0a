//! JSON paths into a response body (dlt's `data_selector`, `next_url_path`, `total_path`, `cursor_path`), and
//! how a page's items are found when no data selector is given.

use std::fmt;

use serde_json::Value;

/// A path into a JSON document: keys separated by dots, array indices in brackets (negative from the end),
/// an optional leading `$.`: `data`, `meta.next_token`, `$.paging.next`, `data[-1].id`.
#[derive(Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(i64),
}

impl JsonPath {
    /// Parses `path`. Any text is a path: a bracket that does not hold an integer is part of a key.
    pub fn new(path: &str) -> JsonPath {
        let trimmed = path.trim();
        let body = trimmed.strip_prefix('$').unwrap_or(trimmed);
        let body = body.strip_prefix('.').unwrap_or(body);
        let mut steps = Vec::new();
        for part in body.split('.').filter(|p| !p.is_empty()) {
            let (key, mut rest) = match part.find('[') {
                Some(at) => part.split_at(at),
                None => (part, ""),
            };
            let mut indices = Vec::new();
            while let Some(inner) = rest.strip_prefix('[') {
                let Some((index, after)) = inner.split_once(']') else {
                    break;
                };
                let Ok(index) = index.trim().parse::<i64>() else {
                    break;
                };
                indices.push(Step::Index(index));
                rest = after;
            }
            if rest.is_empty() {
                if !key.is_empty() {
                    steps.push(Step::Key(key.to_owned()));
                }
                steps.extend(indices);
            } else {
                // Not `key[n]...`: the whole part is a key.
                steps.push(Step::Key(part.to_owned()));
            }
        }
        JsonPath {
            text: path.to_owned(),
            steps,
        }
    }

    /// The value at the path in `document`; `None` when a key or index is missing.
    pub fn find<'a>(&self, document: &'a Value) -> Option<&'a Value> {
        self.steps
            .iter()
            .try_fold(document, |value, step| match (step, value) {
                (Step::Key(key), Value::Object(map)) => map.get(key),
                (Step::Index(i), Value::Array(list)) => {
                    let len = i64::try_from(list.len()).ok()?;
                    let at = if *i < 0 { len + i } else { *i };
                    list.get(usize::try_from(at).ok()?)
                }
                _ => None,
            })
    }
}

impl From<&str> for JsonPath {
    fn from(path: &str) -> Self {
        JsonPath::new(path)
    }
}

impl From<String> for JsonPath {
    fn from(path: String) -> Self {
        JsonPath::new(&path)
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonPath({:?})", self.text)
    }
}

/// Names that hold the records when an object has several lists (dlt looks for the same ones).
const RECORD_FIELDS: [&str; 6] = ["data", "items", "results", "records", "entries", "objects"];

/// The items of a page: at `selector` when given (a list gives its elements, `null` or a missing path none,
/// anything else is one item); else the body itself when it is a list, the one list field of an object
/// (or, of several, the first named like `data`, `items`, `results`), or the object as a single item.
pub(crate) fn select_items(body: &Value, selector: Option<&JsonPath>) -> Vec<Value> {
    let found = match selector {
        Some(path) => path.find(body),
        None => Some(find_records(body)),
    };
    match found {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(item) => vec![item.clone()],
    }
}

fn find_records(body: &Value) -> &Value {
    let Value::Object(map) = body else {
        return body;
    };
    let mut lists = map.iter().filter(|(_, v)| v.is_array());
    match (lists.next(), lists.next()) {
        (Some((_, only)), None) => only,
        (Some(_), Some(_)) => RECORD_FIELDS
            .iter()
            .find_map(|name| map.get(*name).filter(|v| v.is_array()))
            .unwrap_or(body),
        _ => body,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_find_keys_and_indices() {
        let doc = json!({"data": [{"id": 1}, {"id": 2}], "meta": {"next": "abc"}, "a.b": 3});
        assert_eq!(JsonPath::new("meta.next").find(&doc), Some(&json!("abc")));
        assert_eq!(JsonPath::new("$.meta.next").find(&doc), Some(&json!("abc")));
        assert_eq!(JsonPath::new("data[0].id").find(&doc), Some(&json!(1)));
        assert_eq!(JsonPath::new("data[-1].id").find(&doc), Some(&json!(2)));
        assert_eq!(JsonPath::new("data[2].id").find(&doc), None);
        assert_eq!(JsonPath::new("data[-3]").find(&doc), None);
        assert_eq!(JsonPath::new("meta.missing").find(&doc), None);
        assert_eq!(JsonPath::new("meta.next.deeper").find(&doc), None);
        assert_eq!(JsonPath::new("$").find(&doc), Some(&doc));
        assert_eq!(
            JsonPath::new("[1].id").find(&json!([{"id": 5}, {"id": 6}])),
            Some(&json!(6))
        );
        // A bracket without an integer is part of the key.
        assert_eq!(
            JsonPath::new("created[gte]").find(&json!({"created[gte]": 1})),
            Some(&json!(1))
        );
        assert_eq!(JsonPath::new("data[-1].id").to_string(), "data[-1].id");
    }

    #[test]
    fn items_at_a_selector() {
        let body = json!({"results": {"items": [1, 2]}, "single": {"id": 1}, "none": null});
        assert_eq!(
            select_items(&body, Some(&"results.items".into())),
            [json!(1), json!(2)]
        );
        assert_eq!(
            select_items(&body, Some(&"single".into())),
            [json!({"id": 1})]
        );
        assert!(select_items(&body, Some(&"none".into())).is_empty());
        assert!(select_items(&body, Some(&"missing".into())).is_empty());
    }

    #[test]
    fn items_found_without_a_selector() {
        // The body is the list.
        assert_eq!(select_items(&json!([1, 2]), None), [json!(1), json!(2)]);
        // The one list of an object, whatever its name.
        assert_eq!(
            select_items(
                &json!({"tickets": [1], "count": 1, "next_page": null}),
                None
            ),
            [json!(1)]
        );
        // Several lists: the one named like records.
        assert_eq!(
            select_items(&json!({"errors": [], "data": [3], "tags": ["x"]}), None),
            [json!(3)]
        );
        // Several lists, none named like records, or no list: the object is one item.
        let object = json!({"a": [1], "b": [2]});
        assert_eq!(select_items(&object, None), std::slice::from_ref(&object));
        assert_eq!(select_items(&json!({"id": 7}), None), [json!({"id": 7})]);
        assert!(select_items(&Value::Null, None).is_empty());
    }
}
