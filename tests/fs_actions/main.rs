//! The fs datastore actions mkfs, rm, clone, monitor, snap_delete,
//! snap_revert, snap_flatten and export, run as oned runs them: through
//! `<remotes>/datastore/fs/<action> <id>` with the base64 dump on stdin,
//! against real files and real qemu-img.

#[path = "../common/mod.rs"]
mod common;
mod support;

mod bridge_off;
mod clone;
mod export;
mod lab;
mod mkfs;
mod monitor;
mod rm;
mod snap;
