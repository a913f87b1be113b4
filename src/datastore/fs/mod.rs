//! The `fs` datastore driver: image files under the datastore's BASE_PATH,
//! on the front-end or on a BRIDGE_LIST host.

pub mod checksum;
pub mod clone;
pub mod cp;
pub mod ctx;
pub mod decompress;
pub mod download;
pub mod export;
pub mod hostfs;
pub mod http;
pub mod imginfo;
pub mod mkfs;
pub mod monitor;
pub mod qemu_info;
pub mod quickfmt;
pub mod restricted;
pub mod rm;
pub mod snap;
pub mod snapdir;
pub mod source;
pub mod sparse;
pub mod stat;
pub mod stream;
pub mod throttle;

use crate::dispatch::{ActionSpec, DriverSpec, Kind, Stdout};

const DS_USAGE: &str = "<id>   (base64 DS_DRIVER_ACTION_DATA on stdin; or <base64> <id>)";

macro_rules! ds_action {
    ($name:literal, $summary:literal, $stdout:expr, $run:expr) => {
        ActionSpec {
            name: $name,
            usage: DS_USAGE,
            summary: $summary,
            stdout: $stdout,
            run: $run,
        }
    };
}

pub static DRIVER: DriverSpec = DriverSpec {
    kind: Kind::Datastore,
    names: &["fs"],
    default_conf: include_str!("../../../datastore/fs/fs.conf"),
    actions: &[
        ds_action!(
            "cp",
            "Register an image from IMAGE/PATH (file or URL); prints '<source> <format>'.",
            Stdout::OneLine,
            cp::run
        ),
        ds_action!(
            "mkfs",
            "Create an empty datablock of IMAGE/SIZE MB; prints '<source>'.",
            Stdout::OneLine,
            mkfs::run
        ),
        ds_action!(
            "rm",
            "Remove an image and its snapshots; succeeds when already gone.",
            Stdout::OneLine,
            rm::run
        ),
        ds_action!(
            "stat",
            "Print the size in MB of IMAGE/PATH (virtual or uncompressed).",
            Stdout::OneLine,
            stat::run
        ),
        ds_action!(
            "clone",
            "Copy the image at IMAGE/PATH to a new image; prints '<source> <format>'.",
            Stdout::OneLine,
            clone::run
        ),
        ds_action!(
            "monitor",
            "Print USED_MB, FREE_MB and TOTAL_MB of the datastore.",
            Stdout::MultiLine,
            monitor::run
        ),
        ds_action!(
            "snap_delete",
            "Delete snapshot IMAGE/TARGET_SNAPSHOT.",
            Stdout::OneLine,
            snap::run_delete
        ),
        ds_action!(
            "snap_flatten",
            "Make snapshot IMAGE/TARGET_SNAPSHOT the image and drop all snapshots.",
            Stdout::OneLine,
            snap::run_flatten
        ),
        ds_action!(
            "snap_revert",
            "Revert the image to snapshot IMAGE/TARGET_SNAPSHOT.",
            Stdout::OneLine,
            snap::run_revert
        ),
        ds_action!(
            "export",
            "Print the IMPORT_INFO XML for a marketplace export.",
            Stdout::MultiLine,
            export::run
        ),
    ],
};
