//! What every fs action starts from: the parsed dump, the layered
//! configuration, the datastore's paths and the host that holds them
//! (the front-end, or the BRIDGE_LIST host chosen for this image).

use std::path::{Path, PathBuf};

use crate::command::Cmd;
use crate::config::Config;
use crate::dispatch::Invocation;
use crate::dump::{DsAction, Element};
use crate::error::{Error, Result};
use crate::transport::{Host, Hosts, SshSettings};

/// Built-in defaults of the fs driver; `datastore/fs/fs.conf` documents them.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("SUPPORTED_FS", "ext2,ext3,ext4,xfs"),
    ("STAGING_DIR", "/var/tmp"),
    ("ONEHOST", "onehost"),
    ("DOWNLOAD_RETRIES", "3"),
];

/// Environment keys the fs driver honours (exported by oned's defaultrc).
pub const ENV_KEYS: &[&str] = &[];

pub struct FsCtx {
    pub action: DsAction,
    pub conf: Config,
    pub hosts: Hosts,
}

impl FsCtx {
    /// Parses the dump (stdin or argv) and layers the configuration:
    /// defaults < fs.conf < environment < DATASTORE/TEMPLATE.
    pub fn load(inv: &mut Invocation) -> Result<FsCtx> {
        let action = DsAction::from_input(&inv.args, &mut inv.stdin)?;
        let mut conf = Config::with_defaults(DEFAULTS);
        conf.load_file(&inv.conf_file("fs"))?;
        conf.load_env(ENV_KEYS);
        let template = action.data.find("DATASTORE/TEMPLATE");
        conf.load_template(template, "datastore");
        let hosts = Hosts::new(SshSettings::from_config(&conf)?);
        Ok(FsCtx {
            action,
            conf,
            hosts,
        })
    }

    pub fn id(&self) -> &str {
        &self.action.id
    }

    pub fn image(&self) -> Result<&Element> {
        self.action.image()
    }

    pub fn datastore(&self) -> Result<&Element> {
        self.action.datastore()
    }

    /// DATASTORE/BASE_PATH, which must be an absolute path.
    pub fn base_path(&self) -> Result<PathBuf> {
        let p = self.datastore()?.require("BASE_PATH")?;
        if !p.starts_with('/') {
            return Err(Error::Input(format!(
                "DATASTORE/BASE_PATH '{p}' is not an absolute path"
            )));
        }
        Ok(PathBuf::from(p))
    }

    /// The BRIDGE_LIST hosts, as written (whitespace-separated).
    pub fn bridge_list(&self) -> Vec<String> {
        self.conf
            .get("BRIDGE_LIST")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// The bridge host for this action, or `None` when the datastore has no
    /// BRIDGE_LIST. `key` is the image id (the same image always maps to the
    /// same host while the list stays the same); `None` picks at random
    /// (monitor). Hosts oned reports off, in error or disabled are skipped;
    /// when none is left this is an error, never a silent local fallback.
    pub fn bridge(&mut self, key: Option<u64>) -> Result<Option<String>> {
        let list = self.bridge_list();
        self.bridge_among(&list, key, "BRIDGE_LIST")
    }

    /// The same choice over another list of hosts, e.g. clone's
    /// SOURCE_BRIDGE_LIST; `setting` names it in the error.
    pub fn bridge_among(
        &mut self,
        list: &[String],
        key: Option<u64>,
        setting: &str,
    ) -> Result<Option<String>> {
        if list.is_empty() {
            return Ok(None);
        }
        let healthy = self.healthy(list);
        if healthy.is_empty() {
            return Err(Error::failed(format!(
                "All hosts from {setting} are offline, error or disabled ({}): enable one in oned or fix {setting}",
                list.join(" ")
            )));
        }
        let i = match key {
            Some(k) => (k % healthy.len() as u64) as usize,
            None => pseudo_random(healthy.len()),
        };
        Ok(Some(healthy[i].clone()))
    }

    /// Drops the hosts `onehost list` reports off, in error or disabled. When
    /// oned cannot be asked (no CLI, no credentials) the list stands as is.
    fn healthy(&mut self, list: &[String]) -> Vec<String> {
        let cmd = Cmd::new(self.conf.get_or("ONEHOST", "onehost")).args([
            "list",
            "--operator",
            "OR",
            "--no-pager",
            "--csv",
            "--filter=STAT=off,STAT=err,STAT=dsbl",
            "--list=NAME,STAT",
        ]);
        let out = match self.hosts.local().output(&cmd) {
            Ok(o) if o.status.success() => o.stdout_str(),
            Ok(o) => {
                log::debug!(
                    "{cmd} failed ({}): using BRIDGE_LIST as is",
                    o.status.describe()
                );
                return list.to_vec();
            }
            Err(e) => {
                log::debug!("cannot ask oned for host states ({e}): using BRIDGE_LIST as is");
                return list.to_vec();
            }
        };
        let off: Vec<&str> = out
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .map(str::trim)
            .collect();
        list.iter()
            .filter(|h| !off.contains(&h.as_str()))
            .cloned()
            .collect()
    }

    /// The host to run on: the bridge if any, else the front-end.
    pub fn host(&mut self, bridge: Option<&str>) -> Result<&mut Host> {
        self.hosts.at(bridge)
    }

    /// The image id as a number, for bridge selection.
    pub fn image_key(&self) -> Option<u64> {
        self.id().parse().ok()
    }
}

/// A new image's path: `BASE_PATH/<md5 of "<epoch>:<id>\n">`, as the
/// reference names them. If that name is taken (a re-run within the same
/// second), the next second's name is used, never an existing file.
pub fn new_image_path(base: &Path, id: &str, exists: impl Fn(&Path) -> bool) -> PathBuf {
    use md5::{Digest, Md5};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut t = now;
    loop {
        let hash = hex::encode(Md5::digest(format!("{t}:{id}\n").as_bytes()));
        let p = base.join(hash);
        if !exists(&p) {
            return p;
        }
        t += 1;
    }
}

fn pseudo_random(n: usize) -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos as usize ^ std::process::id() as usize) % n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_are_md5_of_epoch_and_id_and_never_reuse_a_file() {
        let base = Path::new("/ds/1");
        let p = new_image_path(base, "7", |_| false);
        assert_eq!(p.parent().unwrap(), base);
        assert_eq!(p.file_name().unwrap().len(), 32);
        let q = new_image_path(base, "7", |c| c == p);
        assert_ne!(p, q);
    }
}
