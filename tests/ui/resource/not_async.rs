use ele::prelude::*;

#[resource]
fn events(out: Emit<serde_json::Value>) -> ele::Result<()> {
    let _ = out;
    Ok(())
}

fn main() {}
