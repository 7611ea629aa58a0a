use ele::prelude::*;

#[resource]
async fn events(token: String) -> ele::Result<()> {
    let _ = token;
    Ok(())
}

fn main() {}
