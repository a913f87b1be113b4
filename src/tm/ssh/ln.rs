//! ln <fe:SOURCE> <host:sysdir/disk.i> <vm_id> <ds_id>
//!
//! For the ssh driver a persistent image is copied like any other (the
//! host has no access to the image datastore); `mvds` copies it back when
//! the VM is done with it.

use crate::dispatch::Invocation;
use crate::error::Result;

pub fn run(inv: &mut Invocation) -> Result<String> {
    super::clone::run(inv)
}
