//! mkimage <size_mb> <format> <host:DST> <vm_id> <ds_id>; mkswap <size_mb> <host:DST> <vm_id> <ds_id>

use crate::dispatch::Invocation;
use crate::error::{Error, Result};

pub fn mkimage(inv: &mut Invocation) -> Result<String> {
    Err(Error::NotSupported(inv.action.clone()))
}

pub fn mkswap(inv: &mut Invocation) -> Result<String> {
    Err(Error::NotSupported(inv.action.clone()))
}
