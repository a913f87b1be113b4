//! monitor <ds_id> (base64 DS_DRIVER_ACTION_DATA on stdin); monitor_ds <ds_dir> (on a host)
//!
//! A non-shared system datastore is monitored on each host, not from the
//! front-end: `monitor` only drains its input, and the hosts' probes run
//! `monitor_ds` (see `crate::tm::monitor_ds`).

use crate::dispatch::Invocation;
use crate::error::Result;

pub fn monitor(inv: &mut Invocation) -> Result<String> {
    let _ = std::io::copy(&mut inv.stdin, &mut std::io::sink());
    Ok(String::new())
}

pub fn monitor_ds(inv: &mut Invocation) -> Result<String> {
    crate::tm::monitor_ds::run(inv)
}
