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

use crate::dispatch::{ActionSpec, DriverSpec, Kind, Stdout};
use crate::tm::common;

macro_rules! tm_action {
    ($name:literal, $usage:literal, $summary:literal, $out:ident, $run:expr) => {
        ActionSpec {
            name: $name,
            usage: $usage,
            summary: $summary,
            stdout: Stdout::$out,
            run: $run,
        }
    };
}

#[rustfmt::skip]
pub static DRIVER: DriverSpec = DriverSpec {
    kind: Kind::Tm,
    names: &["ssh"],
    default_conf: include_str!("../../../tm/ssh/ssh.conf"),
    actions: &[
        tm_action!("clone", "<fe:SOURCE> <host:DST> <vm_id> <ds_id>", "Copy an image to a VM disk.", OneLine, clone::run),
        tm_action!("ln", "<fe:SOURCE> <host:DST> <vm_id> <ds_id>", "Link (shared) or copy (ssh) a persistent image as a VM disk.", OneLine, ln::run),
        tm_action!("mv", "<hostA:SRC> <hostB:DST> <vm_id> <ds_id>", "Move a VM disk or directory between hosts.", OneLine, mv::run),
        tm_action!("mvds", "<host:DISK> <SOURCE> <vm_id> <ds_id>", "Move a persistent disk back to its image datastore.", OneLine, mvds::run),
        tm_action!("cpds", "<host:DISK> <SOURCE> <snap_id|-1> <vm_id> <ds_id>", "Copy a disk (or one of its snapshots) to a new image (disk-saveas).", OneLine, cpds::run),
        tm_action!("premigrate", "<src_host> <dst_host> <vm_dir> <vm_id> <ds_id> [tm]   (base64 VM XML on stdin)", "Prepare a live migration.", OneLine, migrate::pre),
        tm_action!("postmigrate", "<src_host> <dst_host> <vm_dir> <vm_id> <ds_id> [tm]   (base64 VM XML on stdin)", "Clean up after a live migration.", OneLine, migrate::post),
        tm_action!("failmigrate", "<src_host> <dst_host> <vm_dir> <vm_id> <ds_id> [tm]   (base64 VM XML on stdin)", "Roll back a failed live migration.", OneLine, migrate::fail),
        tm_action!("context", "<context.sh> [FILE...] <host:DST> <vm_id> <ds_id>", "Build the context ISO and put it on the host.", OneLine, common::context::run),
        tm_action!("delete", "<host:PATH> <vm_id> <ds_id>", "Delete a VM disk or directory; succeeds when already gone.", OneLine, common::delete::run),
        tm_action!("mkimage", "<size_mb> <format> <host:DST> <vm_id> <ds_id>", "Create a volatile disk.", OneLine, common::mkimage::mkimage),
        tm_action!("mkswap", "<size_mb> <host:DST> <vm_id> <ds_id>", "Create a swap disk.", OneLine, common::mkimage::mkswap),
        tm_action!("resize", "<host:DISK> <size_mb> <vm_id> <ds_id>", "Grow a disk to size_mb.", OneLine, common::resize::run),
        tm_action!("monitor", "<ds_id>   (base64 DS_DRIVER_ACTION_DATA on stdin)", "Monitor a system datastore from the front-end.", MultiLine, monitor::monitor),
        tm_action!("monitor_ds", "<ds_dir>", "On a host: per-VM disk usage of a system datastore.", MultiLine, monitor::monitor_ds),
        tm_action!("snap_create", "<host:DISK> <snap_id> <vm_id> <ds_id>", "Snapshot a disk of a stopped VM.", OneLine, snap::create),
        tm_action!("snap_create_live", "<host:DISK> <snap_id> <vm_id> <ds_id>", "Snapshot a disk of a running VM.", OneLine, snap::create_live),
        tm_action!("snap_delete", "<host:DISK> <snap_id> <vm_id> <ds_id>", "Delete a disk snapshot.", OneLine, snap::delete),
        tm_action!("snap_revert", "<host:DISK> <snap_id> <vm_id> <ds_id>", "Revert a disk to a snapshot.", OneLine, snap::revert),
    ],
};
