//! THE copy engine of the ssh driver: files on one host become files on
//! another, sparse, checked, and never half-there under their final name.
//!
//! 1. `prepare` on the destination: `mkdir -p` the directory, the caller's
//!    lines (`.monitor`), a fresh staging directory `<dst_dir>/.<name>.part`.
//! 2. The data: `tar -cSf -` of the members on the source (GNU tar finds the
//!    holes with SEEK_HOLE, so holes never travel), renamed on the way with
//!    `--transform`, into `tar -xf -` in the staging directory. The stream is
//!    relayed through this process ([`Route::Relay`], front-end ↔ host, one
//!    ssh connection), pushed by the source host's own ssh ([`Route::Push`],
//!    host → host, as the reference does), or piped on one host
//!    ([`Route::Within`]). Every stage's exit status counts.
//! 3. Verify: the staging directory's listing must equal the source's
//!    (paths, types, apparent sizes, link targets).
//! 4. Install, in one script: the reference fixups, the caller's lines (a
//!    resize), then each member renamed into place (an existing directory is
//!    set aside first and dropped only once the new one is in place), then the
//!    caller's final lines, and the staging directory is removed.
//!
//! On any failure the staging directory is removed; the source is never touched.
//! The destination-side scripts are in `stage.rs`.

use super::listing::{self, Listing, Member};
use super::refs::Fixup;
use crate::command::{Cmd, Script};
use crate::error::{Error, Result};
use crate::tools;
use crate::transport::{self, Host};

/// Where the bytes travel, and the hosts at both ends.
pub enum Route<'h> {
    /// Through this process: one command on each host, streamed.
    Relay {
        src: &'h mut Host,
        dst: &'h mut Host,
    },
    /// The source host runs `tar | ssh <to> tar`: `to` is the destination's
    /// name exactly as oned gave it (the hosts' ssh config resolves it).
    Push {
        src: &'h mut Host,
        dst: &'h mut Host,
        to: &'h str,
        ssh_options: &'h [String],
    },
    /// Source and destination are the same host.
    Within(&'h mut Host),
}

impl Route<'_> {
    fn dst(&mut self) -> &mut Host {
        match self {
            Route::Relay { dst, .. } | Route::Push { dst, .. } => dst,
            Route::Within(h) => h,
        }
    }
}

/// One copy: the members of `src_dir` on the source into `dst_dir`.
pub struct Copy {
    pub src_dir: String,
    pub members: Vec<Member>,
    pub dst_dir: String,
    /// Keep holes (`SPARSE` is not `no`).
    pub sparse: bool,
    /// `src → dst`, for messages.
    pub what: String,
}

/// What the caller adds around the copy: shell lines built from
/// [`Cmd::shell_line`] and [`crate::command::quote`] only.
#[derive(Default)]
pub struct Hooks {
    /// On the destination before staging (after `mkdir -p dst_dir`).
    pub prepare: Vec<String>,
    /// Reference fixups, applied in the staging directory after verifying.
    pub fixups: Vec<Fixup>,
    /// In the install script before the members move (paths in the stage).
    pub before_install: Vec<String>,
    /// In the install script after the members moved.
    pub after_install: Vec<String>,
}

impl Copy {
    /// `<dst_dir>/.<first member>.part`.
    pub fn stage(&self) -> String {
        let name = self
            .members
            .first()
            .map(|m| m.to.as_str())
            .unwrap_or("copy");
        format!("{}/.{name}.part", self.dst_dir)
    }

    /// The path of staged `rel` (a destination name).
    pub fn staged(&self, rel: &str) -> String {
        format!("{}/{rel}", self.stage())
    }

    pub(super) fn froms(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.from.as_str()).collect()
    }

    pub(super) fn tos(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.to.as_str()).collect()
    }

    /// `tar --blocking-factor=256 -cSf - -C <src_dir> --transform=... -- <members>`.
    pub fn tar_create(&self) -> Cmd {
        let mut c = tools::TAR
            .cmd()
            .arg(tools::TAR_RECORD)
            .arg(if self.sparse { "-cSf" } else { "-cf" })
            .arg("-")
            .arg("-C")
            .arg(&self.src_dir);
        for m in self.members.iter().filter(|m| m.from != m.to) {
            let (re, to) = (regex_escape(&m.from), replacement_escape(&m.to));
            c = c
                .arg(format!("--transform=s,^{re}$,{to},"))
                .arg(format!("--transform=s,^{re}/,{to}/,"));
        }
        c.arg("--").args(self.froms())
    }

    /// `tar --blocking-factor=256 -xSf - -C <stage>`.
    pub fn tar_extract(&self) -> Cmd {
        tools::TAR
            .cmd()
            .arg(tools::TAR_RECORD)
            .arg(if self.sparse { "-xSf" } else { "-xf" })
            .arg("-")
            .arg("-C")
            .arg(self.stage())
    }

    /// Runs the whole copy. `expected` is the source listing (source names).
    pub fn run(&self, mut route: Route<'_>, expected: &Listing, hooks: &Hooks) -> Result<()> {
        for m in &self.members {
            listing::check_name(&m.from)?;
            listing::check_name(&m.to)?;
        }
        let dst = route.dst();
        dst.run(&self.prepare_script(hooks)).map_err(|e| {
            e.context(format!(
                "cannot prepare {} on {} for the copy of {}",
                self.stage(),
                dst.label(),
                self.what
            ))
        })?;
        let done = self.transfer(&mut route).and_then(|()| {
            let dst = route.dst();
            self.verify(dst, expected)?;
            dst.run(&self.install_script(hooks))
                .map(drop)
                .map_err(|e| e.context(format!("cannot put the copy in place in {}", self.dst_dir)))
        });
        let Err(cause) = done else { return Ok(()) };
        let cause = cause.context(format!("Error copying {}", self.what));
        match route
            .dst()
            .run(&tools::RM.cmd().args(["-rf", "--"]).arg(self.stage()))
        {
            Ok(_) => Err(cause),
            Err(rb) => Err(Error::Rollback {
                cause: Box::new(cause),
                rollback: Box::new(rb),
            }),
        }
    }

    fn transfer(&self, route: &mut Route<'_>) -> Result<()> {
        let (create, extract) = (self.tar_create(), self.tar_extract());
        match route {
            Route::Relay { src, dst } => transport::pipe(src, &create, dst, &extract),
            Route::Within(h) => h
                .run(&Script::new().pipe(&[&create, &extract]).into_cmd())
                .map(drop),
            Route::Push {
                src,
                to,
                ssh_options,
                ..
            } => {
                let ssh = tools::SSH
                    .cmd()
                    .args(ssh_options.iter().cloned())
                    .arg("--")
                    .arg(*to)
                    .arg(extract.shell_line());
                let script = Script::new().pipe(&[&create, &ssh]).into_cmd();
                src.run(&script).map(drop).map_err(|e| {
                    e.context(format!(
                        "{} pushes the data with its own ssh to {to}: check that it can \
                         'ssh {to}' without a password (keys, known_hosts) or set HOST_SSH_OPTIONS",
                        src.label()
                    ))
                })
            }
        }
    }

    fn verify(&self, dst: &mut Host, expected: &Listing) -> Result<()> {
        let got = listing::list(dst, &self.stage(), &self.tos())?;
        let want = listing::renamed(expected, &self.members);
        listing::compare(&want, &got)
            .map_err(|e| e.context(format!("verifying the copy on {}", dst.label())))
    }
}

/// Escapes a name for a GNU tar (sed) basic regular expression with `,` as delimiter.
fn regex_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.[]*^$,".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// Escapes a sed replacement with `,` as delimiter.
fn replacement_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\&,".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}
