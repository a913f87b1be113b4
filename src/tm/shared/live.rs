//! Script fragments that drive libvirt for the live actions (running VMs):
//! quiesce the guest (`domfsfreeze` bounded by VIRSH_TIMEOUT, else
//! `suspend`; undone by an EXIT trap however the script ends), block jobs
//! retried while another block job is active, and the domainsnapshot XML
//! that snapshots exactly one disk.

use crate::command::{quote, Cmd, Script};
use crate::tools;

use super::conf::Virsh;

impl Virsh {
    /// `virsh -c <uri> <args...>`
    pub fn cmd<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        tools::VIRSH.cmd().arg("-c").arg(&self.uri).args(args)
    }
}

/// Freezes the guest's file systems, or suspends it when the guest agent
/// cannot; an EXIT trap thaws or resumes whatever happens next.
pub fn quiesce(s: Script, v: &Virsh, domain: &str) -> Script {
    let freeze = tools::TIMEOUT
        .cmd()
        .arg(v.freeze_timeout.as_secs().to_string())
        .arg(tools::VIRSH.name)
        .args(["-c", &v.uri, "domfsfreeze", domain]);
    let thaw = v.cmd(["domfsthaw", domain]);
    let suspend = v.cmd(["suspend", domain]);
    let resume = v.cmd(["resume", domain]);
    s.line(format!("if {freeze}; then"))
        .line(format!("  trap {} EXIT", quote(&thaw.shell_line())))
        .line(format!("elif {suspend}; then"))
        .line(format!("  trap {} EXIT", quote(&resume.shell_line())))
        .raw("else")
        .line(format!(
            "  echo {} >&2; exit 1",
            quote(&format!(
                "Could not domfsfreeze or suspend domain {domain}: is the VM running and its guest agent up?"
            ))
        ))
        .raw("fi")
}

/// Runs the block job `job` (a virsh command), retrying while libvirt says
/// another block job is active; sets the shell variable `ok` to 1 on success
/// and leaves the last error on stderr otherwise.
pub fn block_job(s: Script, v: &Virsh, job: &Cmd) -> Script {
    s.raw("ok=0")
        .line(format!("for try in $(seq 1 {}); do", v.retries))
        .line(format!("  if err=$({job} 2>&1); then ok=1; break; fi"))
        .raw("  printf '%s\\n' \"$err\" >&2")
        .line(format!(
            "  case \"$err\" in *'active block job'*) sleep {} ;; *) break ;; esac",
            v.retry_sleep.as_secs()
        ))
        .raw("done")
}

/// The `<domainsnapshot>` that takes an external snapshot of the disk
/// `target` into `file` and leaves every other disk alone.
pub fn snapshot_xml(name: &str, targets: &[&str], target: &str, file: &str) -> String {
    let mut x = format!(
        "<domainsnapshot>\n  <name>{n}</name>\n  <description>snap {n}</description>\n  <disks>\n",
        n = xml_escape(name)
    );
    for t in targets {
        if *t == target {
            x.push_str(&format!(
                "    <disk name='{}' snapshot='external'>\n      <source file='{}'/>\n    </disk>\n",
                xml_escape(t),
                xml_escape(file)
            ));
        } else {
            x.push_str(&format!(
                "    <disk name='{}' snapshot='no'/>\n",
                xml_escape(t)
            ));
        }
    }
    x.push_str("  </disks>\n</domainsnapshot>\n");
    x
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn virsh() -> Virsh {
        Virsh {
            uri: "qemu:///system".into(),
            freeze_timeout: Duration::from_secs(60),
            retries: 3,
            retry_sleep: Duration::from_secs(5),
        }
    }

    #[test]
    fn quiesce_freezes_with_a_bound_and_falls_back_to_suspend() {
        let t = quiesce(Script::new(), &virsh(), "one-7").text();
        assert!(
            t.contains("if timeout 60 virsh -c qemu:///system domfsfreeze one-7; then"),
            "{t}"
        );
        assert!(
            t.contains("trap 'virsh -c qemu:///system domfsthaw one-7' EXIT"),
            "{t}"
        );
        assert!(
            t.contains("elif virsh -c qemu:///system suspend one-7; then"),
            "{t}"
        );
        assert!(
            t.contains("trap 'virsh -c qemu:///system resume one-7' EXIT"),
            "{t}"
        );
    }

    #[test]
    fn snapshot_xml_names_one_external_disk() {
        let x = snapshot_xml(
            "1-3",
            &["vda", "vdb", "vdc"],
            "vdb",
            "/ds/0/7/disk.1.snap/4",
        );
        assert!(x.contains("<name>1-3</name>"));
        assert!(x.contains("<disk name='vda' snapshot='no'/>"));
        assert!(x.contains(
            "<disk name='vdb' snapshot='external'>\n      <source file='/ds/0/7/disk.1.snap/4'/>"
        ));
        assert!(x.contains("<disk name='vdc' snapshot='no'/>"));
        assert!(roxmltree::Document::parse(&snapshot_xml("a", &["v'&"], "v'&", "/x<y")).is_ok());
    }

    #[test]
    fn block_job_retries_only_on_active_block_job() {
        let dir = tempfile::tempdir().unwrap();
        let n = dir.path().join("n");
        let v = Virsh {
            retry_sleep: Duration::from_secs(0),
            ..virsh()
        };
        // Fails twice with "active block job", then succeeds.
        let job = Cmd::shell(format!(
            "echo x >> {n}; [ $(wc -l < {n}) -ge 3 ] || {{ echo 'error: active block job' >&2; exit 1; }}",
            n = n.display()
        ));
        let run = |s: Script| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(s.into_cmd().shell_line())
                .output()
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (ok, err) = run(block_job(Script::new(), &v, &job).raw("[ \"$ok\" = 1 ]"));
        assert!(ok, "{err}");
        assert_eq!(err.matches("active block job").count(), 2, "{err}");
        // Any other error stops at once.
        std::fs::remove_file(&n).unwrap();
        let job = Cmd::shell(format!(
            "echo x >> {}; echo 'error: nope' >&2; exit 1",
            n.display()
        ));
        let (ok, err) = run(block_job(Script::new(), &v, &job).raw("[ \"$ok\" = 0 ]"));
        assert!(ok && err.contains("error: nope"), "{err}");
        assert_eq!(std::fs::read_to_string(&n).unwrap().lines().count(), 1);
    }
}
