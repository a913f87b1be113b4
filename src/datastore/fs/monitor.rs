//! monitor <ds_id>  (DS_DRIVER_ACTION_DATA on stdin): the datastore's
//! capacity as `USED_MB=`, `FREE_MB=` and `TOTAL_MB=` lines.
//!
//! The numbers are `df -B1M -P BASE_PATH`'s Used, Available and 1M-blocks
//! columns (so USED + FREE may be less than TOTAL: reserved blocks), read on
//! the front-end or on a random BRIDGE_LIST host after `mkdir -p BASE_PATH`.
//! Unlike the reference, a failure is an error line on stderr that reaches
//! oned's log, not text on stdout that oned drops.

use crate::datastore::fs::ctx::FsCtx;
use crate::datastore::fs::hostfs;
use crate::dispatch::Invocation;
use crate::error::{Context, Error, Result};
use crate::tools;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub used_mb: u64,
    pub free_mb: u64,
    pub total_mb: u64,
}

impl Capacity {
    /// The monitor reply, one `KEY=VALUE` per line, in the reference's order.
    pub fn render(&self) -> String {
        format!(
            "USED_MB={}\nFREE_MB={}\nTOTAL_MB={}\n",
            self.used_mb, self.free_mb, self.total_mb
        )
    }
}

pub fn run(inv: &mut Invocation) -> Result<String> {
    let mut ctx = FsCtx::load(inv)?;
    let base = ctx.base_path()?.to_string_lossy().into_owned();
    monitor(&mut ctx, &base).map(|c| c.render())
}

pub fn monitor(ctx: &mut FsCtx, base: &str) -> Result<Capacity> {
    let bridge = ctx.bridge(None)?;
    let host = ctx.host(bridge.as_deref())?;
    let at = hostfs::at(bridge.as_deref(), base);
    hostfs::make_dir(host, base)?;
    let df = tools::DF.cmd().args(["-B1M", "-P", base]);
    let out = host
        .run_stdout(&df)
        .context(|| format!("cannot measure the datastore at {at}"))?;
    parse_df(&out).ok_or_else(|| {
        Error::failed(format!(
            "cannot measure the datastore at {at}: unexpected output of '{df}': {}",
            crate::error::one_line(&out)
        ))
    })
}

/// Used, Available and 1M-blocks of the last line of `df -B1M -P`. The file
/// system name and the mount point may hold spaces, so the numbers are found
/// as three integers followed by the Capacity column (`12%` or `-`).
pub fn parse_df(out: &str) -> Option<Capacity> {
    let line = out.lines().rev().find(|l| !l.trim().is_empty())?;
    let w: Vec<&str> = line.split_whitespace().collect();
    let num = |s: &str| s.parse::<u64>().ok();
    (1..w.len().saturating_sub(3)).find_map(|i| {
        let cap = w[i + 3];
        let is_cap = cap == "-"
            || cap
                .strip_suffix('%')
                .is_some_and(|p| p.parse::<u64>().is_ok());
        match (num(w[i]), num(w[i + 1]), num(w[i + 2])) {
            (Some(total_mb), Some(used_mb), Some(free_mb)) if is_cap => Some(Capacity {
                used_mb,
                free_mb,
                total_mb,
            }),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_columns_even_with_spaces_in_names() {
        let out = "Filesystem     1M-blocks  Used Available Capacity Mounted on\n\
                   /dev/sda1         258020 11659     81394      13% /var/lib/one\n";
        let c = parse_df(out).unwrap();
        assert_eq!((c.used_mb, c.free_mb, c.total_mb), (11659, 81394, 258020));
        assert_eq!(
            c.render(),
            "USED_MB=11659\nFREE_MB=81394\nTOTAL_MB=258020\n"
        );
        let spaced = "Filesystem 1M-blocks Used Available Capacity Mounted on\n\
                      my fs 2 100 40 50 45% /mnt/with space\n";
        let c = parse_df(spaced).unwrap();
        assert_eq!((c.used_mb, c.free_mb, c.total_mb), (40, 50, 100));
        assert!(parse_df("df: /x: No such file or directory\n").is_none());
        assert!(parse_df("").is_none());
    }
}
