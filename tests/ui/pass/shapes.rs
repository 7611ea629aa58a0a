//! Less common but valid shapes: the emitter after other arguments, one argument (a one-element tuple),
//! a raw identifier, `'static` borrows, another error type, user attributes, and visibility.
#![deny(warnings)]

use ele::prelude::*;

#[derive(serde::Serialize)]
struct Row {
    label: &'static str,
    n: u32,
}

mod inner {
    use ele::prelude::*;

    /// Visible in the parent module only.
    #[resource(table_name = "counted")]
    pub(super) async fn r#type(mut count: u32, out: Emit<u32>) -> Result<(), String> {
        while count > 0 {
            out.send(count).await.map_err(|e| e.to_string())?;
            count -= 1;
        }
        Ok(())
    }
}

/// Labels rows; errors are any boxable error.
#[resource(name = "labelled", primary_key = ["label"], merge_key = ())]
#[allow(clippy::too_many_arguments)]
async fn labelled(
    label: &'static str,
    start: u32,
    mut emit: Emit<Row>,
    end: Option<u32>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let end = end.unwrap_or(start + 1);
    for n in start..end {
        emit.send(Row { label, n }).await?;
    }
    emit = emit.clone();
    drop(emit);
    Ok(())
}

/// A resource behind a `cfg` that is off: none of its items exist.
#[cfg(any())]
#[resource]
async fn disabled(out: Emit<NoSuchType>) -> ele::Result<()> {
    Ok(())
}

fn main() {
    let r: inner::TypeResource = inner::r#type(3);
    assert_eq!(Resource::hints(&r).name, "type");
    assert_eq!(Resource::hints(&r).table(), "counted");
    let r: LabelledResource = labelled("a", 1, Some(4));
    assert_eq!(Resource::hints(&r).name, "labelled");
    assert_eq!(Resource::hints(&r).primary_key, Key::from("label"));
    assert!(Resource::hints(&r).merge_key.is_empty());
    let _ = r.write_disposition(Merge);
}
