//! delete <host:PATH> <vm_id> <ds_id>
//!
//! Removes a VM disk (`.../<sys_ds>/<vm_id>/disk.N`, its `.snap` directory,
//! `kernel`, ...) or the whole VM directory on the host. Idempotent: a path
//! that is already gone is a success. Links are removed, never their targets
//! (`rm -rf` of the path itself), which is what keeps a persistent image behind
//! a `disk.N` link safe; a dangling link is removed too.
//!
//! It never removes anything but VM `<vm_id>`'s directory or an entry directly
//! inside it: `/`, a datastore directory or another VM's directory is refused
//! before any host is contacted.

use crate::command::{quote, Cmd, Script};
use crate::dispatch::Invocation;
use crate::error::{Error, Result};
use crate::tm::args::{expect_args, Location};
use crate::tm::ctx::TmCtx;
use crate::tools::{RM, SLEEP};

use super::{check_script, id};

/// `rm -rf` tries: a busy NFS file or a process still closing the disk
/// clears up within seconds (the reference tries 10 times, 1 s apart).
const TRIES: u32 = 5;

/// The host script: prints `absent` when there is nothing to remove, else
/// `rm -rf`s the path, retrying [`TRIES`] times 1 s apart.
pub fn script(path: &str) -> Cmd {
    let p = quote(path);
    Script::new()
        .line(format!(
            "if [ ! -e {p} ] && [ ! -L {p} ]; then echo absent; exit 0; fi"
        ))
        .raw("n=1")
        // One line per statement: the logged script, folded onto one line
        // with "; ", stays valid to paste.
        .line(format!(
            "until {}; do [ \"$n\" -lt {TRIES} ] || exit 1; n=$((n + 1)); {}; done",
            RM.cmd().args(["-rf", "--", path]),
            SLEEP.cmd().arg("1")
        ))
        .into_cmd()
}

/// What a delete argument names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `.../<sys_ds_id>/<vm_id>`
    VmDir,
    /// `.../<sys_ds_id>/<vm_id>/<entry>`
    InVmDir,
}

pub fn run(inv: &mut Invocation) -> Result<String> {
    expect_args(&inv.args, 3, 3)?;
    let loc = Location::parse(&inv.args[0])?;
    let vm_id = id(&inv.args[1], "vm_id")?;
    id(&inv.args[2], "ds_id")?;
    check_target(&loc, &vm_id)?;

    let mut ctx = TmCtx::for_invocation(inv, &[])?;
    let host = ctx.host(&loc)?;
    let cmd = script(&loc.path);
    let what = format!("cannot delete {} (tried {TRIES} times)", loc);
    let out = host.output(&cmd)?;
    let out = check_script(host, &cmd, out, &what)?;
    if out.stdout_str().trim() == "absent" {
        log::info!("{loc} does not exist: nothing to delete");
    } else {
        log::info!("deleted {loc}");
    }
    Ok(String::new())
}

/// Accepts VM `vm_id`'s directory (`.../<numeric sys_ds_id>/<vm_id>`) or a
/// path directly inside it; refuses everything else.
pub fn check_target(loc: &Location, vm_id: &str) -> Result<Target> {
    let parts: Vec<&str> = loc.path.split('/').filter(|c| !c.is_empty()).collect();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let vm_dir_at = |i: usize| i >= 1 && parts[i] == vm_id && numeric(parts[i - 1]);
    let n = parts.len();
    let target = if parts.iter().any(|c| *c == "." || *c == "..") {
        None
    } else if n >= 2 && vm_dir_at(n - 1) {
        Some(Target::VmDir)
    } else if n >= 3 && vm_dir_at(n - 2) {
        Some(Target::InVmDir)
    } else {
        None
    };
    target.ok_or_else(|| {
        Error::Input(format!(
            "refusing to delete {loc}: it is neither VM {vm_id}'s directory \
             (<datastores>/<system ds id>/{vm_id}) nor an entry inside it; \
             check the path and the vm_id arguments"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, vm: &str) -> Option<Target> {
        check_target(&Location::parse(path).unwrap(), vm).ok()
    }

    #[test]
    fn vm_dir_and_its_entries_are_accepted() {
        let d = "h:/var/lib/one//datastores/0/42";
        assert_eq!(check(d, "42"), Some(Target::VmDir));
        assert_eq!(check(&format!("{d}/"), "42"), Some(Target::VmDir));
        for e in ["disk.0", "disk.1.snap", "kernel", "disk.2.snap.bak"] {
            assert_eq!(
                check(&format!("{d}/{e}"), "42"),
                Some(Target::InVmDir),
                "{e}"
            );
        }
        assert_eq!(check("h:/ds/100/0/disk.3", "0"), Some(Target::InVmDir));
        assert_eq!(check("/ds/0/42/disk.0", "42"), Some(Target::InVmDir));
    }

    #[test]
    fn everything_else_is_refused() {
        for bad in [
            "h:/",
            "h:/var/lib/one/datastores",
            "h:/var/lib/one/datastores/0",
            "h:/var/lib/one/datastores/0/43",
            "h:/var/lib/one/datastores/0/43/disk.0",
            "h:/var/lib/one/datastores/0/42/disk.0.snap/0",
            "h:/var/lib/one/datastores/x/42",
            "h:/var/lib/one/datastores/42",
            "h:/42",
            "h:/ds/0/42/./disk.0",
            "h:/ds/0/42/.",
        ] {
            assert_eq!(check(bad, "42"), None, "{bad}");
        }
        let e = check_target(&Location::parse("h:/ds/0").unwrap(), "0").unwrap_err();
        assert!(
            e.to_string().starts_with("refusing to delete h:/ds/0"),
            "{e}"
        );
    }

    #[test]
    fn the_script_removes_links_not_targets_and_tolerates_absence() {
        let dir = tempfile::tempdir().unwrap();
        let vm = dir.path().join("0/42");
        std::fs::create_dir_all(&vm).unwrap();
        let target = dir.path().join("image");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, vm.join("disk.0")).unwrap();
        std::os::unix::fs::symlink("/nonexistent", vm.join("disk.1")).unwrap();
        let mut host = crate::transport::Host::local();
        // The dangling disk.1 is removed, then absent on the second run.
        for (d, was_absent) in [
            ("disk.0", false),
            ("disk.1", false),
            ("disk.1", true),
            ("missing", true),
        ] {
            let p = vm.join(d);
            let out = host.run(&script(p.to_str().unwrap())).unwrap();
            assert!(std::fs::symlink_metadata(&p).is_err(), "{d}");
            assert_eq!(out.stdout_str().trim() == "absent", was_absent, "{d}");
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }
}
