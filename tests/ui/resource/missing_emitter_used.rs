//! A resource without an emitter, used as a user would: the one error is at its signature; the call and the
//! run compile against a stand-in (no follow-on errors about arguments or futures).
use ele::prelude::*;

#[resource(primary_key = "id")]
async fn events(token: String) -> ele::Result<()> {
    let _ = token;
    Ok(())
}

async fn load(pipeline: &Pipeline) -> ele::Result<()> {
    let info = pipeline.run(events("secret".to_owned())).await?;
    println!("{info}");
    Ok(())
}

fn main() {
    let _ = load;
}
