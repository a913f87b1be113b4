//! Support for TM tests: a remotes tree, fake `onevm`/`onedatastore` CLIs
//! printing fixture XML, and running an action the way oned does (through
//! its symlink path, with the lab's ssh set-up as ~/.ssh).
//!
//! Use from a test file:
//! ```ignore
//! mod common;
//! mod tm_support;
//! use common::lab::Lab;
//! use tm_support::{TmEnv, Vm, Disk};
//! ```
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::lab::Lab;

/// Which SSH transport the actions use (`SSH_TRANSPORT` in the TM conf files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Ssh2,
    Cli,
}

impl Transport {
    pub fn conf_value(self) -> &'static str {
        match self {
            Transport::Ssh2 => "ssh2",
            Transport::Cli => "ssh",
        }
    }
}

pub struct TmEnv {
    pub dir: tempfile::TempDir,
    pub remotes: PathBuf,
    fake_bin: PathBuf,
}

impl TmEnv {
    /// Installs a remotes tree and the fake oned CLIs; writes `transport` and
    /// `extra_conf` lines into every TM driver's conf file.
    pub fn new(transport: Transport, extra_conf: &str) -> TmEnv {
        let dir = tempfile::tempdir().expect("tempdir");
        let remotes = dir.path().join("remotes");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_one-storage"))
            .args(["install", "--remotes"])
            .arg(&remotes)
            .output()
            .expect("run one-storage install");
        assert!(
            out.status.success(),
            "install failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for d in ["shared", "ssh"] {
            let conf = remotes.join(format!("etc/tm/{d}/{d}.conf"));
            let mut text = std::fs::read_to_string(&conf).expect("conf");
            text.push_str(&format!(
                "\nSSH_TRANSPORT={}\n{extra_conf}\n",
                transport.conf_value()
            ));
            std::fs::write(&conf, text).expect("write conf");
        }
        let fake_bin = dir.path().join("bin");
        for (cli, sub) in [("onevm", "vms"), ("onedatastore", "datastores")] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
            let script = format!(
                "#!/bin/sh\n# fake {cli}: prints fixture XML written by the test\n\
                 [ \"$1\" = show ] && [ \"$2\" = -x ] || {{ echo \"{cli}: unexpected arguments: $*\" >&2; exit 2; }}\n\
                 f=\"{}/{sub}/$3.xml\"\n[ -f \"$f\" ] || {{ echo \"[one.{cli}.info] Error getting object [$3].\" >&2; exit 255; }}\n\
                 cat \"$f\"\n",
                dir.path().display()
            );
            std::fs::create_dir_all(&fake_bin).unwrap();
            let p = fake_bin.join(cli);
            std::fs::write(&p, script).unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        TmEnv {
            dir,
            remotes,
            fake_bin,
        }
    }

    /// What `onevm show -x <id>` prints from now on.
    pub fn set_vm(&self, id: u32, xml: &str) {
        std::fs::write(self.dir.path().join(format!("vms/{id}.xml")), xml).unwrap();
    }

    /// What `onedatastore show -x <id>` prints from now on.
    pub fn set_datastore(&self, id: u32, xml: &str) {
        std::fs::write(self.dir.path().join(format!("datastores/{id}.xml")), xml).unwrap();
    }

    /// The installed action path, e.g. `<remotes>/tm/ssh/clone`.
    pub fn action_path(&self, driver: &str, action: &str) -> PathBuf {
        self.remotes.join("tm").join(driver).join(action)
    }

    /// Runs `tm/<driver>/<action> args...` as oned would, from the lab's
    /// front-end (the lab's keys and ssh config as ~/.ssh), with `stdin`.
    pub fn run(
        &self,
        lab: &Lab,
        driver: &str,
        action: &str,
        args: &[&str],
        stdin: &[u8],
    ) -> Output {
        use std::io::Write;
        let mut cmd = lab.frontend_command(self.action_path(driver, action));
        cmd.args(args);
        let path = format!(
            "{}:{}",
            self.fake_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("PATH", path);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn action");
        let mut si = child.stdin.take().unwrap();
        let _ = si.write_all(stdin);
        drop(si);
        child.wait_with_output().expect("wait action")
    }

    /// Like `run`, and panics with the full evidence unless it succeeded.
    pub fn run_ok(&self, lab: &Lab, driver: &str, action: &str, args: &[&str]) -> Output {
        let out = self.run(lab, driver, action, args, b"");
        assert!(
            out.status.success(),
            "{}",
            evidence(driver, action, args, &out)
        );
        out
    }

    /// Like `run`, and panics unless it failed; returns the output.
    pub fn run_fail(&self, lab: &Lab, driver: &str, action: &str, args: &[&str]) -> Output {
        let out = self.run(lab, driver, action, args, b"");
        assert!(
            !out.status.success(),
            "expected a failure\n{}",
            evidence(driver, action, args, &out)
        );
        out
    }
}

/// A red test explains itself: the command, status, stdout and stderr.
pub fn evidence(driver: &str, action: &str, args: &[&str], out: &Output) -> String {
    format!(
        "tm/{driver}/{action} {}\nstatus: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The plain (non-log) stderr lines: what oned stores as the failure reason.
pub fn reason(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !(l.starts_with("INFO:") || l.starts_with("ERROR:") || l.starts_with("DEBUG:")))
        .map(str::to_string)
        .collect()
}

/// A disk of a fixture VM.
#[derive(Debug, Clone, Default)]
pub struct Disk {
    pub id: u32,
    /// Extra attributes, e.g. ("SIZE","100"), ("FORMAT","qcow2"), ("SOURCE", path), ("CLONE","YES").
    pub attrs: Vec<(String, String)>,
}

impl Disk {
    pub fn new(id: u32) -> Disk {
        Disk {
            id,
            attrs: Vec::new(),
        }
    }
    pub fn attr(mut self, k: &str, v: &str) -> Disk {
        self.attrs.push((k.to_string(), v.to_string()));
        self
    }
}

/// A fixture VM as `onevm show -x` prints it (the parts the drivers read).
#[derive(Debug, Clone)]
pub struct Vm {
    pub id: u32,
    pub lcm_state: u32,
    pub deploy_id: String,
    pub disks: Vec<Disk>,
    /// (HOSTNAME, DS_ID) per history record, oldest first.
    pub history: Vec<(String, u32)>,
    pub snapshots: Vec<(u32, u32, bool)>, // (disk_id, snap_id, active)
}

impl Vm {
    pub fn new(id: u32) -> Vm {
        Vm {
            id,
            lcm_state: 3,
            deploy_id: format!("one-{id}"),
            disks: Vec::new(),
            history: Vec::new(),
            snapshots: Vec::new(),
        }
    }
    pub fn disk(mut self, d: Disk) -> Vm {
        self.disks.push(d);
        self
    }
    pub fn on(mut self, host: &str, sys_ds: u32) -> Vm {
        self.history.push((host.to_string(), sys_ds));
        self
    }
    pub fn state(mut self, lcm: u32) -> Vm {
        self.lcm_state = lcm;
        self
    }

    pub fn xml(&self) -> String {
        let mut s = format!(
            "<VM><ID>{}</ID><NAME>vm{}</NAME><STATE>3</STATE><LCM_STATE>{}</LCM_STATE><DEPLOY_ID>{}</DEPLOY_ID><TEMPLATE>",
            self.id, self.id, self.lcm_state, self.deploy_id
        );
        for d in &self.disks {
            s.push_str(&format!("<DISK><DISK_ID><![CDATA[{}]]></DISK_ID>", d.id));
            for (k, v) in &d.attrs {
                s.push_str(&format!("<{k}><![CDATA[{v}]]></{k}>"));
            }
            s.push_str("</DISK>");
        }
        s.push_str("</TEMPLATE><SNAPSHOTS>");
        for (disk, snap, active) in &self.snapshots {
            s.push_str(&format!(
                "<DISK_ID>{disk}</DISK_ID><SNAPSHOT><ID>{snap}</ID><ACTIVE>{}</ACTIVE></SNAPSHOT>",
                if *active { "YES" } else { "NO" }
            ));
        }
        s.push_str("</SNAPSHOTS><HISTORY_RECORDS>");
        for (seq, (h, ds)) in self.history.iter().enumerate() {
            s.push_str(&format!(
                "<HISTORY><SEQ>{seq}</SEQ><HOSTNAME>{h}</HOSTNAME><DS_ID>{ds}</DS_ID><VM_MAD>kvm</VM_MAD><TM_MAD>ssh</TM_MAD></HISTORY>"
            ));
        }
        s.push_str("</HISTORY_RECORDS></VM>");
        s
    }

    /// base64 of the XML on one line (stdin of pre/post/failmigrate).
    pub fn base64(&self) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new("base64")
            .arg("-w0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(self.xml().as_bytes())
            .unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    }
}

/// A fixture datastore as `onedatastore show -x` prints it.
pub fn datastore_xml(id: u32, tm_mad: &str, base_path: &Path, template: &[(&str, &str)]) -> String {
    let mut s = format!(
        "<DATASTORE><ID>{id}</ID><NAME>ds{id}</NAME><TM_MAD>{tm_mad}</TM_MAD><BASE_PATH>{}</BASE_PATH><TYPE>1</TYPE><TEMPLATE>",
        base_path.display()
    );
    for (k, v) in template {
        s.push_str(&format!("<{k}><![CDATA[{v}]]></{k}>"));
    }
    s.push_str("</TEMPLATE></DATASTORE>");
    s
}
