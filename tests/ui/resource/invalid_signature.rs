use ele::prelude::*;

#[resource]
async fn events<T>(
    out: Emit<serde_json::Value>,
    repo: &str,
    (a, b): (u8, u8),
    more: Emit<T>,
) -> ele::Result<()>
where
    T: Send,
{
    let _ = (out, repo, a, b, more);
    Ok(())
}

fn main() {}
