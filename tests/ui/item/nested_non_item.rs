//! A nested cursor path walks into the field's type, which must describe its fields too: `User` has no
//! `#[derive(Item)]`, and a `String` has no fields at all. `$.user.login` (JSONPath) is checked at run time.
use ele::prelude::*;
use serde::Serialize;

#[derive(Serialize)]
pub struct User {
    pub login: String,
}

#[derive(Serialize, Item)]
pub struct Event {
    pub id: i64,
    pub user: User,
    pub created_at: String,
}

#[resource]
async fn by_login(
    out: Emit<Event>,
    #[incremental(cursor = "user.login")] login: Incremental<String>,
    #[incremental(cursor = "created_at.seconds")] seconds: Incremental<i64>,
    #[incremental(cursor = "$.user.login")] unchecked: Incremental<String>,
) -> ele::Result<()> {
    let _ = (login, seconds, unchecked);
    out.send(Vec::<Event>::new()).await
}

fn main() {}
