//! What `#[derive(ele::Item)]` cannot describe, and its own attribute.
use ele::Item;
use serde::Serialize;

#[derive(Serialize, Item)]
pub enum Kind {
    Push,
}

#[derive(Serialize, Item)]
pub struct Pair(i64, String);

#[derive(Serialize, Item)]
pub struct Unit;

#[derive(Serialize, Item)]
#[ele(krate = "ele")]
pub struct Unknown {
    pub id: i64,
}

#[derive(Serialize, Item)]
pub struct Twice {
    pub id: i64,
    #[serde(rename = "id")]
    pub other: i64,
}

fn main() {}
