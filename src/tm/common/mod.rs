//! Actions both TM drivers share (the reference's `tm/common`).

pub mod context;
pub mod delete;
pub mod mkimage;
pub mod resize;
