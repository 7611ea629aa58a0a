//! Destinations of ele. Each destination lives in its own folder and implements
//! [`ele_core::destination::Destination`].
pub mod postgres;
