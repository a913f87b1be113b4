//! snap_create|snap_create_live|snap_delete|snap_revert <host:DISK> <snap_id> <vm_id> <ds_id>

use crate::dispatch::Invocation;
use crate::error::{Error, Result};

pub fn create(inv: &mut Invocation) -> Result<String> {
    Err(Error::NotSupported(inv.action.clone()))
}

pub fn create_live(inv: &mut Invocation) -> Result<String> {
    Err(Error::NotSupported(inv.action.clone()))
}

pub fn delete(inv: &mut Invocation) -> Result<String> {
    Err(Error::NotSupported(inv.action.clone()))
}

pub fn revert(inv: &mut Invocation) -> Result<String> {
    Err(Error::NotSupported(inv.action.clone()))
}
