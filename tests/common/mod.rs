//! Test support shared by the integration tests (`mod common;`): `cmd` runs programs
//! with loud failures, `lab` starts sshd hosts in mount namespaces.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod cmd;
pub mod lab;
