//! The `shared` transfer-manager driver.

use crate::dispatch::{ActionSpec, DriverSpec, Invocation, Kind, Stdout};
use crate::error::{Error, Result};

fn not_yet(inv: &mut Invocation) -> Result<String> {
    Err(Error::NotSupported(inv.action.clone()))
}

macro_rules! tm_action {
    ($name:literal, $usage:literal, $summary:literal, $run:expr) => {
        ActionSpec {
            name: $name,
            usage: $usage,
            summary: $summary,
            stdout: Stdout::OneLine,
            run: $run,
        }
    };
}

pub static DRIVER: DriverSpec = DriverSpec {
    kind: Kind::Tm,
    names: &["shared", "qcow2"],
    default_conf: include_str!("../../../tm/shared/shared.conf"),
    actions: &[
        tm_action!(
            "clone",
            "<fe:SOURCE> <host:DST> <vm_id> <ds_id>",
            "Copy an image to a VM disk.",
            not_yet
        ),
        tm_action!(
            "ln",
            "<fe:SOURCE> <host:DST> <vm_id> <ds_id>",
            "Link a persistent image as a VM disk.",
            not_yet
        ),
        tm_action!(
            "mv",
            "<hostA:SRC> <hostB:DST> <vm_id> <ds_id>",
            "Move a VM disk or directory between hosts.",
            not_yet
        ),
        tm_action!(
            "mvds",
            "<host:DISK> <SOURCE> <vm_id> <ds_id>",
            "Move a persistent disk back to its image datastore.",
            not_yet
        ),
        tm_action!(
            "cpds",
            "<host:DISK> <SOURCE> <snap_id|-1> <vm_id> <ds_id>",
            "Copy a disk (or snapshot) to a new image (disk-saveas).",
            not_yet
        ),
        tm_action!(
            "premigrate",
            "<src_host> <dst_host> <vm_dir> <vm_id> <ds_id> [tm]   (base64 VM XML on stdin)",
            "Prepare a live migration.",
            not_yet
        ),
        tm_action!(
            "postmigrate",
            "<src_host> <dst_host> <vm_dir> <vm_id> <ds_id> [tm]   (base64 VM XML on stdin)",
            "Clean up after a live migration.",
            not_yet
        ),
        tm_action!(
            "failmigrate",
            "<src_host> <dst_host> <vm_dir> <vm_id> <ds_id> [tm]   (base64 VM XML on stdin)",
            "Roll back a failed live migration.",
            not_yet
        ),
        tm_action!(
            "context",
            "<context.sh> [FILE...] <host:DST> <vm_id> <ds_id>",
            "Build the context ISO and put it on the host.",
            not_yet
        ),
        tm_action!(
            "delete",
            "<host:PATH> <vm_id> <ds_id>",
            "Delete a VM disk or directory; succeeds when already gone.",
            not_yet
        ),
        tm_action!(
            "mkimage",
            "<size_mb> <format> <host:DST> <vm_id> <ds_id>",
            "Create a volatile disk.",
            not_yet
        ),
        tm_action!(
            "mkswap",
            "<size_mb> <host:DST> <vm_id> <ds_id>",
            "Create a swap disk.",
            not_yet
        ),
        tm_action!(
            "resize",
            "<host:DISK> <size_mb> <vm_id> <ds_id>",
            "Grow a disk to size_mb.",
            not_yet
        ),
        tm_action!(
            "monitor",
            "<ds_id>   (base64 DS_DRIVER_ACTION_DATA on stdin)",
            "Monitor a system datastore.",
            not_yet
        ),
        tm_action!(
            "monitor_ds",
            "<ds_dir>",
            "On a host: per-VM disk usage of a system datastore.",
            not_yet
        ),
        tm_action!(
            "snap_create",
            "<host:DISK> <snap_id> <vm_id> <ds_id>",
            "Snapshot a disk of a stopped VM.",
            not_yet
        ),
        tm_action!(
            "snap_create_live",
            "<host:DISK> <snap_id> <vm_id> <ds_id>",
            "Snapshot a disk of a running VM.",
            not_yet
        ),
        tm_action!(
            "snap_delete",
            "<host:DISK> <snap_id> <vm_id> <ds_id>",
            "Delete a disk snapshot.",
            not_yet
        ),
        tm_action!(
            "snap_revert",
            "<host:DISK> <snap_id> <vm_id> <ds_id>",
            "Revert a disk to a snapshot.",
            not_yet
        ),
    ],
};
