//! monitor <ds_id> (base64 DS_DRIVER_ACTION_DATA on stdin); monitor_ds <ds_dir> (on a host)

use crate::dispatch::Invocation;
use crate::error::{Error, Result};

pub fn monitor(inv: &mut Invocation) -> Result<String> {
    Err(Error::NotSupported(inv.action.clone()))
}

pub fn monitor_ds(inv: &mut Invocation) -> Result<String> {
    Err(Error::NotSupported(inv.action.clone()))
}
