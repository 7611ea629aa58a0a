// Column hints the derive rejects by themselves: an unknown type or hint, a hint the given type cannot hold,
// a hint on a field that gives no column.
use ele::prelude::*;
use serde::Serialize;

#[derive(Serialize, Item)]
struct Payment {
    #[ele(data_type = "decmal", precision = 12, scale = 2)]
    amount: String,
    #[ele(data_type = "bool", precision = 1)]
    paid: String,
    #[ele(data_type = "text", scale = 2)]
    code: String,
    #[ele(uniqe)]
    reference: String,
    #[serde(skip)]
    #[ele(unique)]
    cache: String,
}

fn main() {}
