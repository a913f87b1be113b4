//! premigrate|postmigrate|failmigrate <src_host> <dst_host> <vm_dir> <vm_id> <ds_id> [tm]  (base64 VM XML on stdin)

use crate::dispatch::Invocation;
use crate::error::{Error, Result};

pub fn pre(inv: &mut Invocation) -> Result<String> {
    Err(Error::NotSupported(inv.action.clone()))
}

pub fn post(inv: &mut Invocation) -> Result<String> {
    Err(Error::NotSupported(inv.action.clone()))
}

pub fn fail(inv: &mut Invocation) -> Result<String> {
    Err(Error::NotSupported(inv.action.clone()))
}
