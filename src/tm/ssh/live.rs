//! Copying the disk of a running VM on its host (snap_create_live, live cpds).
//!
//! kvm: `virsh blockcopy <domain> <disk> <dest> --wait --finish`, retried
//! while libvirt answers "active block job" (3 tries, 5 s apart, as the
//! reference). When blockcopy fails, the guest's filesystems are frozen
//! (`domfsfreeze`, bounded by VIRSH_TIMEOUT), or else the domain is
//! suspended, for a plain sparse `cp`; a trap thaws or resumes it whatever
//! happens. lxc: `lxc-freeze`, `cp`, `lxc-unfreeze`.
//!
//! The script is constant text; every value reaches it as a positional
//! argument, so nothing is interpolated into shell code.

use crate::command::Cmd;
use crate::error::{Error, Result};

/// $1 mode (kvm|lxc), $2 libvirt URI, $3 domain, $4 disk (target or path),
/// $5 destination, $6 source file for the fallback copy, $7 freeze timeout.
const SCRIPT: &str = r#"set -e -o pipefail
mode=$1 uri=$2 dom=$3 disk=$4 dest=$5 src=$6 wait=$7
copy() { rm -f -- "$dest"; cp --sparse=always -- "$src" "$dest"; }
if [ "$mode" = lxc ]; then
  lxc-freeze -n "$dom"
  trap 'lxc-unfreeze -n "$dom"' EXIT
  copy
  exit 0
fi
try=1
while :; do
  if err=$(virsh -q -c "$uri" blockcopy "$dom" "$disk" "$dest" --wait --finish 2>&1); then exit 0; fi
  case $err in
    *"active block job"*) [ "$try" -lt 3 ] || break; try=$((try + 1)); sleep 5 ;;
    *) break ;;
  esac
done
echo "blockcopy failed: $err" >&2
if timeout "$wait" virsh -q -c "$uri" domfsfreeze "$dom" >/dev/null; then
  trap 'virsh -q -c "$uri" domfsthaw "$dom" >/dev/null' EXIT
elif virsh -q -c "$uri" suspend "$dom" >/dev/null; then
  trap 'virsh -q -c "$uri" resume "$dom" >/dev/null' EXIT
else
  echo "could not freeze nor suspend domain $dom" >&2
  exit 1
fi
copy"#;

/// How to copy a running VM's disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCopy {
    /// `kvm` or `lxc` (HISTORY[last()]/VM_MAD).
    pub vm_mad: String,
    pub libvirt_uri: String,
    pub deploy_id: String,
    /// What blockcopy names: the disk's TARGET (`vda`) or its path.
    pub disk: String,
    /// The file the disk's data lives in, for the freeze/suspend fallback.
    pub source: String,
    pub dest: String,
    pub freeze_timeout: u64,
}

impl LiveCopy {
    pub fn cmd(&self) -> Result<Cmd> {
        let mode = match self.vm_mad.as_str() {
            "kvm" | "qemu" => "kvm",
            "lxc" => "lxc",
            other => {
                return Err(Error::failed(format!(
                    "live disk copies need VM_MAD kvm or lxc, this VM runs on '{other}'"
                )))
            }
        };
        if self.deploy_id.is_empty() {
            return Err(Error::Input(
                "the VM has no DEPLOY_ID: it is not running on the host".to_string(),
            ));
        }
        Ok(Cmd::new("bash").args([
            "-c",
            SCRIPT,
            "one-storage-live",
            mode,
            &self.libvirt_uri,
            &self.deploy_id,
            &self.disk,
            &self.dest,
            &self.source,
            &self.freeze_timeout.to_string(),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Host;

    fn live(dir: &std::path::Path, mad: &str) -> LiveCopy {
        LiveCopy {
            vm_mad: mad.into(),
            libvirt_uri: "qemu:///system".into(),
            deploy_id: "one-7".into(),
            disk: "vda".into(),
            source: dir.join("disk.0").to_str().unwrap().into(),
            dest: dir.join("out").to_str().unwrap().into(),
            freeze_timeout: 5,
        }
    }

    /// A fake virsh/lxc on PATH that logs its arguments and fails blockcopy.
    fn fake_tools(dir: &std::path::Path, blockcopy_rc: i32) -> String {
        let bin = dir.join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = dir.join("log");
        for t in ["virsh", "lxc-freeze", "lxc-unfreeze"] {
            let text = format!(
                "#!/bin/sh\necho \"{t} $*\" >> {log}\ncase \"$*\" in *blockcopy*) exit {blockcopy_rc};; esac\nexit 0\n",
                log = log.display()
            );
            std::fs::write(bin.join(t), text).unwrap();
            std::fs::set_permissions(
                bin.join(t),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
        }
        format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
    }

    #[test]
    fn blockcopy_then_freeze_fallback_with_thaw() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("disk.0"), b"data").unwrap();
        let path = fake_tools(d.path(), 1);
        let l = live(d.path(), "kvm");
        let c = l.cmd().unwrap().env("PATH", path);
        Host::local().run(&c).unwrap();
        let log = std::fs::read_to_string(d.path().join("log")).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(
            lines,
            vec![
                format!(
                    "virsh -q -c qemu:///system blockcopy one-7 vda {} --wait --finish",
                    l.dest
                ),
                "virsh -q -c qemu:///system domfsfreeze one-7".to_string(),
                "virsh -q -c qemu:///system domfsthaw one-7".to_string(),
            ]
        );
        assert_eq!(std::fs::read(&l.dest).unwrap(), b"data");
    }

    #[test]
    fn blockcopy_success_copies_nothing_itself() {
        let d = tempfile::tempdir().unwrap();
        let path = fake_tools(d.path(), 0);
        let l = live(d.path(), "kvm");
        Host::local()
            .run(&l.cmd().unwrap().env("PATH", path))
            .unwrap();
        let log = std::fs::read_to_string(d.path().join("log")).unwrap();
        assert_eq!(log.lines().count(), 1, "{log}");
    }

    #[test]
    fn lxc_freezes_and_unfreezes() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("disk.0"), b"x").unwrap();
        let path = fake_tools(d.path(), 0);
        let l = live(d.path(), "lxc");
        Host::local()
            .run(&l.cmd().unwrap().env("PATH", path))
            .unwrap();
        let log = std::fs::read_to_string(d.path().join("log")).unwrap();
        assert_eq!(log, "lxc-freeze -n one-7\nlxc-unfreeze -n one-7\n");
        assert!(live(d.path(), "firecracker").cmd().is_err());
    }
}
