//! Transfer-manager (TM) drivers: run on the front-end with `host:path`
//! arguments, they drive hypervisor hosts over SSH.

pub mod shared;
pub mod ssh;
