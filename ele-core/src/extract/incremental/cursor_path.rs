//! Cursor paths: `a.b` or JSONPath (`$.a.b`, `$.items[*].ts`, `$`), parsed once and applied to every item.

use crate::foundation::doc::{JsonRef, Kind};

/// One step of a cursor path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    Any,
}

/// A compiled cursor path: `field`, `a.b`, `$.a.b`, `$.items[*].ts`, `$`.
#[derive(Debug, Clone)]
pub(super) struct CursorPath(Vec<Step>);

impl CursorPath {
    /// The one column a path names (`created_at`, `$.created_at`), as dlt's `get_cursor_column_name`; `None`
    /// for nested paths and wildcards.
    pub(super) fn column_name(path: &str) -> Option<String> {
        match CursorPath::parse(path).ok()?.0.as_slice() {
            [Step::Field(name)] => Some(name.clone()),
            _ => None,
        }
    }

    pub(super) fn parse(path: &str) -> std::result::Result<CursorPath, String> {
        let trimmed = path.trim();
        if trimmed.is_empty() {
            return Err("the path is empty".into());
        }
        let rest = trimmed.strip_prefix('$').unwrap_or(trimmed);
        let rest = rest.strip_prefix('.').unwrap_or(rest);
        let mut steps = Vec::new();
        if rest.is_empty() {
            return Ok(CursorPath(steps));
        }
        if !trimmed.starts_with('$') && !rest.contains(['.', '[']) {
            return Ok(CursorPath(vec![Step::Field(rest.to_owned())]));
        }
        for part in rest.split('.') {
            let (name, brackets) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                let name = name.trim_matches(|c| c == '"' || c == '\'');
                steps.push(Step::Field(if name == "*" {
                    return Err("`*` must be written `[*]`".into());
                } else {
                    name.to_owned()
                }));
            }
            let mut b = brackets;
            while let Some(open) = b.strip_prefix('[') {
                let close = open.find(']').ok_or("missing `]`")?;
                let inner = &open[..close];
                steps.push(if inner == "*" {
                    Step::Any
                } else if let Ok(i) = inner.parse::<usize>() {
                    Step::Index(i)
                } else {
                    Step::Field(inner.trim_matches(|c| c == '"' || c == '\'').to_owned())
                });
                b = &open[close + 1..];
            }
            if !b.is_empty() {
                return Err(format!("unexpected `{b}`"));
            }
        }
        Ok(CursorPath(steps))
    }

    /// The first value matched (`None` when absent).
    pub(super) fn find<'v>(&self, value: JsonRef<'v>) -> Option<JsonRef<'v>> {
        fn go<'v>(steps: &[Step], value: JsonRef<'v>) -> Option<JsonRef<'v>> {
            let Some((step, rest)) = steps.split_first() else {
                return Some(value);
            };
            match step {
                Step::Field(name) => go(rest, value.get(name)?),
                Step::Index(i) => go(rest, value.index(*i)?),
                Step::Any => match value.kind() {
                    Kind::Array(mut items) => items.find_map(|v| go(rest, v)),
                    Kind::Object(mut map) => map.find_map(|(_, v)| go(rest, v)),
                    _ => None,
                },
            }
        }
        go(&self.0, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// The value `path` finds in `item`.
    fn found(path: &str, item: &Value) -> Option<Value> {
        CursorPath::parse(path)
            .expect("parses")
            .find(JsonRef::Value(item))
            .map(JsonRef::to_value)
    }

    #[test]
    fn cursor_paths() {
        let item = json!({"a": {"b": 1}, "items": [{"ts": 5}, {"ts": 6}]});
        assert_eq!(found("a.b", &item), Some(json!(1)));
        assert_eq!(found("$.a.b", &item), Some(json!(1)));
        assert_eq!(found("$.items[*].ts", &item), Some(json!(5)));
        assert_eq!(found("$", &item), Some(item.clone()));
    }
}
