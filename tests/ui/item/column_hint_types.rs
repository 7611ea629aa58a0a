// Column hints the field's Rust type cannot hold, without a `data_type` that changes it.
use ele::prelude::*;
use serde::Serialize;

struct Opaque;

impl Serialize for Opaque {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}

#[derive(Serialize, Item)]
struct Payment {
    #[ele(precision = 12)]
    paid: bool,
    #[ele(scale = 2)]
    amount: Option<f64>,
    #[ele(timezone = false)]
    at: i64,
    #[ele(precision = 3)]
    opaque: Opaque,
}

fn main() {}
