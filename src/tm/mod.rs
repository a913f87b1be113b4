//! Transfer-manager (TM) drivers: run on the front-end with `host:path`
//! arguments, they drive hypervisor hosts over SSH.

pub mod args;
pub mod common;
pub mod ctx;
pub mod monitor_ds;
pub mod shared;
pub mod ssh;
