//! The `ssh` transfer-manager driver: disks are copied to each host's local system
//! datastore and back, keeping sparse files sparse.

pub(crate) mod clone;
pub(crate) mod copy;
#[cfg(test)]
mod copy_tests;
pub(crate) mod cpds;
pub(crate) mod export;
pub(crate) mod hosts;
pub(crate) mod listing;
pub(crate) mod live;
pub(crate) mod ln;
pub(crate) mod migrate;
pub(crate) mod monitor;
pub(crate) mod mv;
pub(crate) mod mvds;
pub(crate) mod other;
pub(crate) mod qemu;
pub(crate) mod refs;
pub(crate) mod setup;
pub(crate) mod snap;
pub(crate) mod stage;

use crate::dispatch::{DriverSpec, Kind};
use crate::tm::common;

pub static DRIVER: DriverSpec = DriverSpec {
    kind: Kind::Tm,
    names: &["ssh"],
    default_conf: include_str!("../../../tm/ssh/ssh.conf"),
    actions: tm_actions!(),
};
