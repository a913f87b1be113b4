//! mvds <host:sysdir/disk.i> <SOURCE> <vm_id> <ds_id>
//!
//! Copies a persistent disk back over its image on the front-end when the
//! VM is done with it (terminate, detach): through a temporary name next to
//! SOURCE and an atomic rename, `disk.i.snap/` as `SOURCE.snap`, then
//! `SOURCE.md5sum` removed. A symlinked or chained disk is flattened on the
//! host first: the image gets the disk's current state, and the chain's
//! snapshot layers are not copied. The host copy stays: the `delete` line
//! that follows removes it.

use super::export::{export, Export};
use super::setup;
use crate::dispatch::Invocation;
use crate::error::Result;
use crate::tm::args::{expect_args, number, Location};

pub fn run(inv: &mut Invocation) -> Result<String> {
    expect_args(&inv.args, 4, 4)?;
    let disk = Location::parse(&inv.args[0])?;
    disk.require_host()?;
    let source = Location::parse(&inv.args[1])?;
    number::<u64>(&inv.args[2], "vm_id")?;
    number::<u64>(&inv.args[3], "ds_id")?;
    let mut ctx = setup::load(inv)?;
    export(
        &mut ctx,
        &Export {
            disk: &disk,
            source: &source,
            with_snapshots: true,
            prepared: None,
        },
    )?;
    Ok(String::new())
}
