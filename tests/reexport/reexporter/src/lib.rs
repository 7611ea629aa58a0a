//! Re-exports ele under `ele_reexporter::ele`: the crate that `ele-reexport-user` depends on instead of ele.

pub use ele;
