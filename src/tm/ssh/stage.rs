//! The destination side of a copy as shell scripts: the staging directory
//! made fresh, then the reference fixups, the caller's lines and each member
//! renamed into place, in one script each (one command on the host).

use super::copy::{Copy, Hooks};
use super::refs::Fixup;
use crate::command::{quote, Cmd, Script};
use crate::tools;

/// Moves `$1` (staged) to `$2` (final); an existing directory at `$2`, or
/// anything where a directory goes, is set aside at `$3` until then and put
/// back if the move fails. Files replace files atomically.
const INSTALL_FN: &str = r#"install_member() {
  aside=
  if [ -e "$2" ] || [ -L "$2" ]; then
    if { [ -d "$2" ] && [ ! -L "$2" ]; } || [ -d "$1" ]; then
      mv -T -- "$2" "$3"
      aside=$3
    fi
  fi
  if ! mv -T -- "$1" "$2"; then
    if [ -n "$aside" ]; then mv -T -- "$aside" "$2"; fi
    return 1
  fi
}"#;

impl Copy {
    pub(super) fn prepare_script(&self, hooks: &Hooks) -> Cmd {
        let stage = self.stage();
        let mut s = Script::new().cmd(&tools::MKDIR.cmd().args(["-p", "--"]).arg(&self.dst_dir));
        for l in &hooks.prepare {
            s = s.line(l.clone());
        }
        s.cmd(&tools::RM.cmd().args(["-rf", "--"]).arg(&stage))
            .cmd(&tools::MKDIR.cmd().arg("--").arg(&stage))
            .into_cmd()
    }

    /// The install script: fixups, the caller's lines, the members, clean-up.
    pub fn install_script(&self, hooks: &Hooks) -> Cmd {
        let mut s = Script::new().raw(INSTALL_FN);
        for f in &hooks.fixups {
            s = s.cmd(&self.fixup_cmd(f));
        }
        for l in &hooks.before_install {
            s = s.line(l.clone());
        }
        for to in self.tos() {
            let install = Cmd::new("install_member")
                .arg(self.staged(to))
                .arg(format!("{}/{to}", self.dst_dir))
                .arg(self.staged(&format!(".replaced.{to}")));
            s = s.cmd(&install);
        }
        for l in &hooks.after_install {
            s = s.line(l.clone());
        }
        s.cmd(&tools::RM.cmd().args(["-rf", "--"]).arg(self.stage()))
            .into_cmd()
    }

    pub(super) fn fixup_cmd(&self, f: &Fixup) -> Cmd {
        match f {
            Fixup::Relink { path, target } => tools::LN
                .cmd()
                .args(["-sfn", "--", target.as_str()])
                .arg(self.staged(path)),
            Fixup::DotLink { path } => tools::LN
                .cmd()
                .args(["-sfn", "--", "."])
                .arg(self.staged(path)),
            Fixup::Rebase {
                path,
                backing,
                backing_format,
            } => {
                let mut c = tools::QEMU_IMG
                    .cmd()
                    .args(["rebase", "-q", "-u", "-f", "qcow2"]);
                if !backing_format.is_empty() {
                    c = c.args(["-F", backing_format.as_str()]);
                }
                c.args(["-b", backing.as_str(), "--"])
                    .arg(self.staged(path))
            }
        }
    }
}

/// A line writing `value` into `file` unless it already holds it (the
/// reference's `enable_local_monitoring`, without rewriting an equal file).
pub fn write_if_changed(file: &str, value: &str) -> String {
    let cat = tools::CAT.cmd().arg("--").arg(file);
    format!(
        "if [ \"$({cat} 2>/dev/null)\" != {v} ]; then printf '%s\\n' {v} > {f}; fi",
        v = quote(value),
        f = quote(file)
    )
}
