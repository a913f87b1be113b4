//! one-storage: OpenNebula-style datastore and transfer-manager drivers in
//! one binary. `dispatch` turns argv into an action; `dump` models the XML
//! oned sends; `command` and `transport` run commands locally or over SSH;
//! `datastore` and `tm` hold one module per driver.

pub mod command;
pub mod config;
pub mod datastore;
pub mod dispatch;
pub mod dump;
pub mod error;
pub mod install;
pub mod protocol;
pub mod qemu;
pub mod tm;
pub mod tools;
pub mod transport;
