//! mvds <host:sysdir/disk.i> <SOURCE> <vm_id> <ds_id>
//!
//! Nothing to do on shared storage: a persistent disk is the image itself,
//! used in place through the `disk.i` link (and its snapshots already live in
//! `<SOURCE>.snap/`). The epilog's DELETE then removes only the link.

use crate::dispatch::Invocation;
use crate::error::Result;
use crate::tm::args::{expect_args, Location};

pub fn run(inv: &mut Invocation) -> Result<String> {
    expect_args(&inv.args, 4, 4)?;
    let disk = Location::parse(&inv.args[0])?;
    log::debug!(
        "{disk} is used in place by the image {}: nothing to move",
        inv.args[1]
    );
    Ok(String::new())
}
