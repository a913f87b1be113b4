//! What every TM action starts from: the layered configuration, the hosts
//! pool (one connection per host per action) and the VM and datastore
//! objects oned knows, read the way the reference reads them
//! (`onevm show -x`, `onedatastore show -x`), through one configurable command.

use std::collections::HashMap;
use std::io::Read;

use crate::command::Cmd;
use crate::config::Config;
use crate::dispatch::Invocation;
use crate::dump::{decode_base64, Element};
use crate::error::{Error, Result};
use crate::tm::args::Location;
use crate::transport::{Host, Hosts, SshSettings};

/// Defaults every TM driver shares; the driver's conf file documents them.
pub const COMMON_DEFAULTS: &[(&str, &str)] = &[
    ("ONEVM", "onevm"),
    ("ONEDATASTORE", "onedatastore"),
    ("SUPPORTED_FS", "ext2,ext3,ext4,xfs"),
];

/// Environment keys oned's `tmrc`/`defaultrc` export that the TM honours.
pub const ENV_KEYS: &[&str] = &["QCOW2_OPTIONS", "DS_DIR", "SUPPORTED_FS", "FRONTEND_HOSTS"];

pub struct TmCtx {
    pub conf: Config,
    pub hosts: Hosts,
    vms: HashMap<String, Element>,
    datastores: HashMap<String, Element>,
}

impl TmCtx {
    /// Layers defaults < `<remotes>/etc/tm/<driver>/<driver>.conf` < environment.
    /// (Datastore and disk attributes are read per action, where they apply.)
    pub fn load(inv: &Invocation, driver: &str, defaults: &[(&str, &str)]) -> Result<TmCtx> {
        let mut conf = Config::with_defaults(COMMON_DEFAULTS);
        for (k, v) in defaults {
            conf.set(k, v, crate::config::Origin::Default);
        }
        conf.set("DS_DIR", &default_ds_dir(), crate::config::Origin::Default);
        conf.load_file(&inv.conf_file(driver))?;
        conf.load_env(ENV_KEYS);
        let hosts = Hosts::new(SshSettings::from_config(&conf)?);
        Ok(TmCtx {
            conf,
            hosts,
            vms: HashMap::new(),
            datastores: HashMap::new(),
        })
    }

    /// [`TmCtx::load`] with the conf file and the built-in defaults of the
    /// driver as installed (`qcow2` is an alias of `shared` and reads
    /// `etc/tm/shared/shared.conf`), then `defaults` of the action's own.
    pub fn for_invocation(inv: &Invocation, defaults: &[(&str, &str)]) -> Result<TmCtx> {
        let driver = crate::dispatch::find_driver(inv.kind, &inv.driver)
            .map(|d| d.name())
            .unwrap_or(inv.driver.as_str());
        let mut all = driver_defaults(driver).to_vec();
        all.extend_from_slice(defaults);
        TmCtx::load(inv, driver, &all)
    }

    /// The VM as `onevm show -x <id>` prints it (read once per action).
    pub fn vm(&mut self, vm_id: &str) -> Result<&Element> {
        if !self.vms.contains_key(vm_id) {
            let xml = self.cli_show("ONEVM", vm_id, "VM")?;
            self.vms.insert(vm_id.to_string(), xml);
        }
        Ok(&self.vms[vm_id])
    }

    /// Uses the VM XML oned passed on stdin (base64, pre/post/failmigrate)
    /// instead of asking oned.
    pub fn vm_from_stdin(&mut self, vm_id: &str, stdin: &mut dyn Read) -> Result<&Element> {
        let mut s = String::new();
        stdin
            .read_to_string(&mut s)
            .map_err(|e| Error::io("reading the VM template from stdin", e))?;
        let xml = decode_base64(&s, "VM template on stdin")?;
        let vm = Element::parse(&xml, "the VM template on stdin")?;
        self.vms.insert(vm_id.to_string(), vm);
        Ok(&self.vms[vm_id])
    }

    /// The DISK with `DISK_ID=disk_id` of the VM, if it has one.
    pub fn disk(&mut self, vm_id: &str, disk_id: u32) -> Result<Option<Element>> {
        let vm = self.vm(vm_id)?;
        Ok(vm
            .find(&format!("TEMPLATE/DISK[DISK_ID={disk_id}]"))
            .cloned())
    }

    /// The datastore as `onedatastore show -x <id>` prints it.
    pub fn datastore(&mut self, ds_id: &str) -> Result<&Element> {
        if !self.datastores.contains_key(ds_id) {
            let xml = self.cli_show("ONEDATASTORE", ds_id, "DATASTORE")?;
            self.datastores.insert(ds_id.to_string(), xml);
        }
        Ok(&self.datastores[ds_id])
    }

    fn cli_show(&mut self, key: &str, id: &str, root: &str) -> Result<Element> {
        if !id.chars().all(|c| c.is_ascii_digit()) || id.is_empty() {
            return Err(Error::Usage(format!(
                "'{id}' is not a {} id: expected a number",
                root.to_lowercase()
            )));
        }
        let words: Vec<&str> = self
            .conf
            .get(key)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let Some((prog, pre)) = words.split_first() else {
            return Err(self.conf.invalid(key, "the oned CLI command, e.g. onevm"));
        };
        let cmd = Cmd::new(*prog)
            .args(pre.iter().copied())
            .args(["show", "-x", id]);
        let out = self.hosts.local().run(&cmd).map_err(|e| {
            e.context(format!("cannot read {root} {id} from oned (check oneadmin's credentials, or {key} in the driver conf)"))
        })?;
        let el = Element::parse(&out.stdout_str(), &format!("the output of {cmd}"))?;
        if el.name != root {
            return Err(Error::Input(format!(
                "{cmd} printed <{}>, expected <{root}>",
                el.name
            )));
        }
        Ok(el)
    }

    /// True when `host` names the front-end itself: `localhost`, the loopback
    /// addresses, this machine's hostname, or a name listed in FRONTEND_HOSTS.
    pub fn is_frontend(&self, host: &str) -> bool {
        if matches!(host, "localhost" | "127.0.0.1" | "::1") {
            return true;
        }
        if self
            .conf
            .get("FRONTEND_HOSTS")
            .unwrap_or("")
            .split_whitespace()
            .any(|h| h == host)
        {
            return true;
        }
        let me = hostname();
        !me.is_empty() && (host == me || me.split('.').next() == Some(host))
    }

    /// The host holding `loc`: the front-end for a bare path or a front-end
    /// name, else the remote host (connected on first use).
    pub fn host(&mut self, loc: &Location) -> Result<&mut Host> {
        match loc.host.as_deref() {
            Some(h) if !self.is_frontend(h) => self.hosts.get(h),
            _ => Ok(self.hosts.local()),
        }
    }

    /// DS_DIR: where system datastores live on every host.
    pub fn ds_dir(&self) -> String {
        self.conf
            .get("DS_DIR")
            .map(str::to_string)
            .unwrap_or_else(default_ds_dir)
    }
}

/// The built-in defaults of a TM driver's own keys.
fn driver_defaults(driver: &str) -> &'static [(&'static str, &'static str)] {
    match driver {
        "ssh" => crate::tm::ssh::setup::DEFAULTS,
        "shared" => crate::tm::shared::conf::DEFAULTS,
        _ => &[],
    }
}

fn default_ds_dir() -> String {
    match std::env::var("ONE_LOCATION") {
        Ok(l) if !l.is_empty() => format!("{l}/var/datastores"),
        _ => "/var/lib/one/datastores".to_string(),
    }
}

/// This machine's host name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into our buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> TmCtx {
        let mut conf = Config::with_defaults(COMMON_DEFAULTS);
        conf.set(
            "FRONTEND_HOSTS",
            "fe oned.example",
            crate::config::Origin::Default,
        );
        TmCtx {
            conf,
            hosts: Hosts::new(SshSettings::default()),
            vms: HashMap::new(),
            datastores: HashMap::new(),
        }
    }

    #[test]
    fn each_driver_has_its_transport_default_and_its_conf_file_wins() {
        use crate::dispatch::{Invocation, Kind};
        use crate::transport::TransportKind;
        let remotes = tempfile::tempdir().unwrap();
        let inv = |driver: &str, action: &str| Invocation {
            kind: Kind::Tm,
            driver: driver.to_string(),
            action: action.to_string(),
            args: Vec::new(),
            remotes: remotes.path().to_path_buf(),
            stdin: Box::new(std::io::empty()),
        };
        let kind = |i: Invocation| {
            TmCtx::for_invocation(&i, &[])
                .unwrap()
                .hosts
                .settings()
                .kind
        };
        // tm/ssh copies images: the system client, also in its common actions.
        assert_eq!(kind(inv("ssh", "delete")), TransportKind::Cli);
        assert_eq!(kind(inv("shared", "delete")), TransportKind::Ssh2);
        assert_eq!(kind(inv("qcow2", "context")), TransportKind::Ssh2);
        let conf = remotes.path().join("etc/tm/ssh");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(conf.join("ssh.conf"), "SSH_TRANSPORT=ssh2\n").unwrap();
        assert_eq!(kind(inv("ssh", "delete")), TransportKind::Ssh2);
    }

    #[test]
    fn frontend_names() {
        let c = ctx();
        assert!(c.is_frontend("localhost"));
        assert!(c.is_frontend("fe"));
        assert!(c.is_frontend(&hostname()));
        assert!(!c.is_frontend("lab1"));
        assert!(!c.is_frontend("127.0.0.11"));
    }

    #[test]
    fn vm_from_a_configurable_cli() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("fake-onevm");
        std::fs::write(&fake, "#!/bin/sh\n[ \"$1 $2 $3\" = \"show -x 42\" ] || exit 3\necho '<VM><ID>42</ID><TEMPLATE><DISK><DISK_ID>1</DISK_ID><SIZE>9</SIZE></DISK></TEMPLATE></VM>'\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let mut c = ctx();
        c.conf.set(
            "ONEVM",
            fake.to_str().unwrap(),
            crate::config::Origin::Default,
        );
        assert_eq!(c.vm("42").unwrap().get("ID"), Some("42"));
        assert_eq!(c.disk("42", 1).unwrap().unwrap().get("SIZE"), Some("9"));
        assert!(c.disk("42", 2).unwrap().is_none());
        assert!(c.vm("4;2").is_err());
        let e = c.vm("7").unwrap_err().summary();
        assert!(e.starts_with("cannot read VM 7 from oned"), "{e}");
    }
}
