use ele::prelude::*;

#[source]
fn numbers() -> Vec<i64> {
    vec![1, 2, 3]
}

fn main() {
    let _ = numbers();
}
