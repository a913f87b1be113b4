//! From argv to an action, and from its result to oned's protocol.
//!
//! oned runs `.../remotes/datastore/fs/cp 7` or `.../remotes/tm/ssh/clone A B 3 1`.
//! The key is (kind, driver, action) from argv[0]'s last three components *as
//! given*: `current_exe()` would resolve the symlink and lose the driver. The
//! same actions run by hand as `one-storage datastore fs cp 7`.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::error::{Error, Result};
use crate::{datastore, install, protocol, tm};

/// Datastore (`remotes/datastore/...`) or transfer manager (`remotes/tm/...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Datastore,
    Tm,
}

impl Kind {
    pub fn dir(self) -> &'static str {
        match self {
            Kind::Datastore => "datastore",
            Kind::Tm => "tm",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "datastore" => Some(Kind::Datastore),
            "tm" => Some(Kind::Tm),
            _ => None,
        }
    }
}

/// What an action prints on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdout {
    /// One line (or nothing): everything oned reads back verbatim.
    OneLine,
    /// `KEY=VALUE` lines or XML that oned base64-encodes (monitor, export).
    MultiLine,
}

/// Everything an action gets: its name, its arguments and where it was called from.
pub struct Invocation {
    pub kind: Kind,
    /// The driver name as called (`qcow2` and `shared` are one driver).
    pub driver: String,
    pub action: String,
    pub args: Vec<String>,
    pub remotes: PathBuf,
    pub stdin: Box<dyn Read + Send>,
}

impl Invocation {
    /// The driver's configuration file: `<remotes>/etc/<kind>/<driver>/<driver>.conf`.
    pub fn conf_file(&self, driver: &str) -> PathBuf {
        self.remotes
            .join("etc")
            .join(self.kind.dir())
            .join(driver)
            .join(format!("{driver}.conf"))
    }
}

/// One action of a driver.
pub struct ActionSpec {
    pub name: &'static str,
    /// Argument signature, e.g. `<fe:SOURCE> <host:DST> <vm_id> <ds_id>`.
    pub usage: &'static str,
    pub summary: &'static str,
    pub stdout: Stdout,
    pub run: fn(&mut Invocation) -> Result<String>,
}

/// A driver: its names and actions.
pub struct DriverSpec {
    pub kind: Kind,
    /// The first name is the canonical one; the others are aliases (`qcow2`).
    pub names: &'static [&'static str],
    pub actions: &'static [ActionSpec],
    /// The default configuration file installed under `remotes/etc/`.
    pub default_conf: &'static str,
}

impl DriverSpec {
    pub fn name(&self) -> &'static str {
        self.names[0]
    }

    /// The action, with oned's fallback: `clone.ssh` runs `clone` when the
    /// driver has no action of that exact name.
    pub fn action(&self, name: &str) -> Option<&'static ActionSpec> {
        let exact = self.actions.iter().find(|a| a.name == name);
        exact.or_else(|| {
            let (base, _) = name.rsplit_once('.')?;
            self.actions.iter().find(|a| a.name == base)
        })
    }
}

/// Every driver one-storage provides.
pub fn drivers() -> [&'static DriverSpec; 3] {
    [
        &datastore::fs::DRIVER,
        &tm::shared::DRIVER,
        &tm::ssh::DRIVER,
    ]
}

pub fn find_driver(kind: Kind, name: &str) -> Option<&'static DriverSpec> {
    drivers()
        .into_iter()
        .find(|d| d.kind == kind && d.names.contains(&name))
}

#[derive(Parser, Debug)]
#[command(
    name = "one-storage",
    version,
    about = "Datastore and transfer-manager drivers for OpenNebula-style clouds",
    long_about = "Installed as symlinks (remotes/datastore/<driver>/<action>, remotes/tm/<driver>/<action>), \
                  it runs the action named by the path it was called by. Run an action by hand with \
                  'one-storage datastore fs stat 7 < dump.b64' or 'one-storage tm ssh clone ...'."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a datastore action: one-storage datastore <driver> <action> ARGS...
    /// (`... <action> --help` prints the action's arguments)
    #[command(disable_help_flag = true)]
    Datastore {
        driver: String,
        action: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a transfer-manager action: one-storage tm <driver> <action> ARGS...
    /// (`... <action> --help` prints the action's arguments)
    #[command(disable_help_flag = true)]
    Tm {
        driver: String,
        action: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Install the remotes tree: the binary, one symlink per action, default etc files.
    Install {
        /// The remotes directory, e.g. /var/lib/one/remotes
        #[arg(long)]
        remotes: PathBuf,
    },
    /// List every driver and action with its arguments.
    Actions,
}

/// The process entry point: returns the exit code.
pub fn main(argv: Vec<OsString>) -> i32 {
    let called_as = argv.first().map(PathBuf::from).unwrap_or_default();
    let rest: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some((kind, driver, action)) = key_from_path(&called_as) {
        let remotes = crate::config::remotes_dir(Some(&called_as));
        return run_action(kind, &driver, &action, rest, remotes);
    }
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let remotes = crate::config::remotes_dir(None);
    match cli.command {
        Command::Datastore {
            driver,
            action,
            args,
        } => run_action(Kind::Datastore, &driver, &action, args, remotes),
        Command::Tm {
            driver,
            action,
            args,
        } => run_action(Kind::Tm, &driver, &action, args, remotes),
        Command::Install { remotes } => finish(
            "install",
            install::install(&remotes, &called_as),
            Stdout::MultiLine,
        ),
        Command::Actions => {
            print!("{}", action_list());
            0
        }
    }
}

/// (kind, driver, action) from `.../<kind>/<driver>/<action>`, as given.
pub fn key_from_path(p: &Path) -> Option<(Kind, String, String)> {
    let parts: Vec<String> = p
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let n = parts.len();
    if n < 3 {
        return None;
    }
    let kind = Kind::parse(&parts[n - 3])?;
    Some((kind, parts[n - 2].clone(), parts[n - 1].clone()))
}

fn run_action(kind: Kind, driver: &str, action: &str, args: Vec<String>, remotes: PathBuf) -> i32 {
    let log_name = action.to_string();
    protocol::init_logging(&log_name);
    let Some(spec) = find_driver(kind, driver) else {
        let known: Vec<&str> = drivers()
            .iter()
            .filter(|d| d.kind == kind)
            .flat_map(|d| d.names.iter().copied())
            .collect();
        let e = Error::Usage(format!(
            "'{driver}' is not a {} driver of one-storage: use one of {}",
            kind.dir(),
            known.join(", ")
        ));
        return protocol::report_failure(&log_name, &e);
    };
    let Some(a) = spec.action(action) else {
        return protocol::report_failure(&log_name, &Error::NotSupported(action.to_string()));
    };
    if matches!(args.first().map(String::as_str), Some("--help" | "-h")) {
        println!(
            "usage: {} {} {} {}\n\n{}",
            kind.dir(),
            driver,
            a.name,
            a.usage,
            a.summary
        );
        return 0;
    }
    let mut inv = Invocation {
        kind,
        driver: driver.to_string(),
        action: a.name.to_string(),
        args,
        remotes,
        stdin: Box::new(std::io::stdin()),
    };
    let result = (a.run)(&mut inv).map_err(|e| match e {
        Error::Usage(m) => Error::Usage(format!(
            "{m}\nusage: {} {driver} {} {}",
            kind.dir(),
            a.name,
            a.usage
        )),
        other => other,
    });
    finish(&log_name, result, a.stdout)
}

fn finish(action: &str, result: Result<String>, stdout: Stdout) -> i32 {
    match result {
        Ok(out) => match protocol::print_result(&out, stdout == Stdout::MultiLine) {
            Ok(()) => 0,
            Err(e) => {
                protocol::report_failure(action, &Error::io("writing the result to stdout", e))
            }
        },
        Err(e) => protocol::report_failure(action, &e),
    }
}

/// Every driver and action with its signature (`one-storage actions`).
pub fn action_list() -> String {
    let mut s = String::new();
    for d in drivers() {
        for a in d.actions {
            s.push_str(&format!(
                "{} {} {} {}\n",
                d.kind.dir(),
                d.names.join("|"),
                a.name,
                a.usage
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_comes_from_the_last_three_components() {
        let k = key_from_path(Path::new("/var/lib/one/remotes/tm/ssh/clone")).unwrap();
        assert_eq!(k, (Kind::Tm, "ssh".into(), "clone".into()));
        let k = key_from_path(Path::new("remotes/datastore/fs/clone")).unwrap();
        assert_eq!(k, (Kind::Datastore, "fs".into(), "clone".into()));
        assert!(key_from_path(Path::new("/usr/bin/one-storage")).is_none());
        assert!(key_from_path(Path::new("one-storage")).is_none());
    }

    #[test]
    fn suffixed_actions_fall_back_like_oned() {
        let d = find_driver(Kind::Tm, "qcow2").unwrap();
        assert_eq!(d.action("delete.ssh").unwrap().name, "delete");
        assert!(d.action("nonsense").is_none());
    }

    #[test]
    fn every_driver_lists_its_actions_in_its_data_file() {
        for d in drivers() {
            let file = format!(
                "{}/{}/{}/actions",
                env!("CARGO_MANIFEST_DIR"),
                d.kind.dir(),
                d.name()
            );
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
            let listed: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect();
            let actual: Vec<&str> = d.actions.iter().map(|a| a.name).collect();
            assert_eq!(listed, actual, "{file} and the action table differ");
        }
    }
}
