//! monitor <ds_id>  (DS_DRIVER_ACTION_DATA on stdin): the datastore's
//! capacity as `USED_MB=`, `FREE_MB=` and `TOTAL_MB=` lines.
//!
//! The numbers are `df -B1M -P BASE_PATH`'s Used, Available and 1M-blocks
//! columns (so USED + FREE may be less than TOTAL: reserved blocks), after
//! `mkdir -p BASE_PATH`. On a random BRIDGE_LIST host those two commands
//! run; on the front-end the same is done in-process (`create_dir_all`,
//! `statvfs(2)` with df's arithmetic), so monitor starts no process.
//! Unlike the reference, a failure is an error line on stderr that reaches
//! oned's log, not text on stdout that oned drops.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

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
    let Some(bridge) = ctx.bridge(None)? else {
        return local(base);
    };
    let host = ctx.host(Some(&bridge))?;
    let at = hostfs::at(Some(&bridge), base);
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

/// On the front-end: `mkdir -p` and `df -B1M -P` without starting either.
fn local(base: &str) -> Result<Capacity> {
    std::fs::create_dir_all(base).map_err(|e| {
        Error::io(format!("cannot create the datastore directory {base} on the front-end: check DATASTORE/BASE_PATH and its permissions"), e)
    })?;
    statvfs(Path::new(base))
        .map(|s| s.capacity())
        .context(|| format!("cannot measure the datastore at {base}"))
}

/// The `statvfs(2)` fields df reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    /// f_frsize, or f_bsize when the file system leaves it 0 (as df does).
    pub unit: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
}

impl FsStats {
    /// What GNU `df -B1M` prints: Used is blocks - bfree (so root's reserve
    /// counts as neither used nor available), each figure rounded up to
    /// whole MiB. df prints a negative Available when the file system
    /// reports one (top bit set); that is 0 here.
    pub fn capacity(&self) -> Capacity {
        let mib =
            |blocks: u64| (u128::from(blocks) * u128::from(self.unit)).div_ceil(1 << 20) as u64;
        let bavail = if self.bavail >> 63 == 1 {
            0
        } else {
            self.bavail
        };
        Capacity {
            used_mb: mib(self.blocks.saturating_sub(self.bfree)),
            free_mb: mib(bavail),
            total_mb: mib(self.blocks),
        }
    }
}

pub fn statvfs(dir: &Path) -> std::io::Result<FsStats> {
    let c = CString::new(dir.as_os_str().as_bytes())?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path and `st` is written by the call
    // before it is read (only when it returns 0).
    let st = unsafe {
        if libc::statvfs(c.as_ptr(), st.as_mut_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        st.assume_init()
    };
    let unit = if st.f_frsize != 0 {
        st.f_frsize
    } else {
        st.f_bsize
    };
    Ok(FsStats {
        unit: unit as u64,
        blocks: st.f_blocks as u64,
        bfree: st.f_bfree as u64,
        bavail: st.f_bavail as u64,
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

    #[test]
    fn df_arithmetic_rounds_each_figure_up() {
        let s = FsStats {
            unit: 4096,
            blocks: 257,
            bfree: 2,
            bavail: 1,
        };
        let c = s.capacity();
        assert_eq!((c.used_mb, c.free_mb, c.total_mb), (1, 1, 2));
        let whole = FsStats {
            unit: 1 << 20,
            blocks: 10,
            bfree: 4,
            bavail: 3,
        };
        let c = whole.capacity();
        assert_eq!((c.used_mb, c.free_mb, c.total_mb), (6, 3, 10));
        let negative = FsStats {
            bavail: u64::MAX - 5,
            ..whole
        };
        assert_eq!(negative.capacity().free_mb, 0);
        let empty = FsStats {
            unit: 4096,
            blocks: 0,
            bfree: 0,
            bavail: 0,
        };
        assert_eq!(
            empty.capacity().render(),
            "USED_MB=0\nFREE_MB=0\nTOTAL_MB=0\n"
        );
    }

    /// statvfs with df's arithmetic against the real `df -B1M -P` on file
    /// systems of different kinds. Used and Available move when something
    /// writes meanwhile, so a sample counts only when df said the same
    /// just before and just after it.
    #[test]
    fn statvfs_gives_what_df_prints() {
        let t = tempfile::tempdir().unwrap();
        let dirs = [
            t.path(),
            Path::new("/"),
            Path::new("/dev/shm"),
            Path::new("/proc"),
        ];
        for dir in dirs.iter().filter(|d| d.is_dir()) {
            let df = || {
                let out = std::process::Command::new("df")
                    .args(["-B1M", "-P"])
                    .arg(dir)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "df {dir:?}: {out:?}");
                parse_df(&String::from_utf8_lossy(&out.stdout)).unwrap()
            };
            let stable = (0..20).find_map(|_| {
                let before = df();
                let ours = statvfs(dir).unwrap().capacity();
                (before == df()).then_some((before, ours))
            });
            let (theirs, ours) = stable.unwrap_or_else(|| panic!("{dir:?} never kept still"));
            assert_eq!(ours, theirs, "{dir:?}");
        }
    }

    #[test]
    fn statvfs_errors_name_the_cause() {
        let e = statvfs(Path::new("/nonexistent/one-storage")).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("f");
        std::fs::write(&file, "").unwrap();
        let e = local(&format!("{}/100", file.display())).unwrap_err();
        let line = e.summary();
        assert!(
            line.contains("cannot create the datastore directory"),
            "{line}"
        );
        assert!(line.contains("Not a directory"), "{line}");
    }
}
