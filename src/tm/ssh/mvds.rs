//! mvds <host:DISK> <SOURCE> <vm_id> <ds_id>

use crate::dispatch::Invocation;
use crate::error::{Error, Result};

pub fn run(inv: &mut Invocation) -> Result<String> {
    Err(Error::NotSupported(inv.action.clone()))
}
