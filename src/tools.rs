//! Every external program one-storage runs, named once.
//!
//! Commands are built with the bare name so that the same [`Cmd`] runs on the
//! front-end and on a host (each resolves it in its own PATH). On the
//! front-end, [`Tool::locate`] finds it with `which` first, so that a missing
//! tool is one clear line naming the package to install.

use std::path::PathBuf;

use crate::command::Cmd;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    pub name: &'static str,
    /// The Debian/Ubuntu package that ships it.
    pub package: &'static str,
}

pub const QEMU_IMG: Tool = Tool {
    name: "qemu-img",
    package: "qemu-utils",
};
pub const XORRISO: Tool = Tool {
    name: "xorriso",
    package: "xorriso",
};
pub const GENISOIMAGE: Tool = Tool {
    name: "genisoimage",
    package: "genisoimage",
};
pub const MKISOFS: Tool = Tool {
    name: "mkisofs",
    package: "genisoimage",
};
pub const MKSWAP: Tool = Tool {
    name: "mkswap",
    package: "util-linux",
};
pub const MKFS: Tool = Tool {
    name: "mkfs",
    package: "util-linux",
};
pub const MKFS_XFS: Tool = Tool {
    name: "mkfs.xfs",
    package: "xfsprogs",
};
pub const TAR: Tool = Tool {
    name: "tar",
    package: "tar",
};
/// tar's record size for a stream between two tars: 256 blocks of 512 bytes
/// (128 KiB, what `cat` moves per call) instead of 20 (10 KiB), so each end
/// makes a tenth of the system calls. A 1 GiB copy over ssh, median of 5:
/// 3.92 s against 4.41 s. Both ends of a stream use it; the stream's end is
/// padded to a whole record (at most 128 KiB).
pub const TAR_RECORD: &str = "--blocking-factor=256";
pub const SSH: Tool = Tool {
    name: "ssh",
    package: "openssh-client",
};
pub const DF: Tool = Tool {
    name: "df",
    package: "coreutils",
};
pub const DU: Tool = Tool {
    name: "du",
    package: "coreutils",
};
pub const RM: Tool = Tool {
    name: "rm",
    package: "coreutils",
};
pub const MV: Tool = Tool {
    name: "mv",
    package: "coreutils",
};
pub const CP: Tool = Tool {
    name: "cp",
    package: "coreutils",
};
pub const LN: Tool = Tool {
    name: "ln",
    package: "coreutils",
};
pub const MKDIR: Tool = Tool {
    name: "mkdir",
    package: "coreutils",
};
pub const FALLOCATE: Tool = Tool {
    name: "fallocate",
    package: "util-linux",
};
pub const MD5SUM: Tool = Tool {
    name: "md5sum",
    package: "coreutils",
};
pub const CAT: Tool = Tool {
    name: "cat",
    package: "coreutils",
};
pub const DD: Tool = Tool {
    name: "dd",
    package: "coreutils",
};
pub const FIND: Tool = Tool {
    name: "find",
    package: "findutils",
};
pub const MKTEMP: Tool = Tool {
    name: "mktemp",
    package: "coreutils",
};
pub const REALPATH: Tool = Tool {
    name: "realpath",
    package: "coreutils",
};
pub const VIRSH: Tool = Tool {
    name: "virsh",
    package: "libvirt-clients",
};
pub const LXC_FREEZE: Tool = Tool {
    name: "lxc-freeze",
    package: "lxc",
};
pub const LXC_UNFREEZE: Tool = Tool {
    name: "lxc-unfreeze",
    package: "lxc",
};
pub const SLEEP: Tool = Tool {
    name: "sleep",
    package: "coreutils",
};
pub const TEST: Tool = Tool {
    name: "test",
    package: "coreutils",
};
pub const LS: Tool = Tool {
    name: "ls",
    package: "coreutils",
};
/// Sets the environment of a remote command that runs without a shell.
pub const ENV: Tool = Tool {
    name: "env",
    package: "coreutils",
};
/// Bounds every remote command on the host itself (see `transport::remote_line`).
pub const TIMEOUT: Tool = Tool {
    name: "timeout",
    package: "coreutils",
};
pub const TOUCH: Tool = Tool {
    name: "touch",
    package: "coreutils",
};

pub const ALL: &[Tool] = &[
    QEMU_IMG,
    XORRISO,
    GENISOIMAGE,
    MKISOFS,
    MKSWAP,
    MKFS,
    MKFS_XFS,
    TAR,
    SSH,
    DF,
    DU,
    RM,
    MV,
    CP,
    LN,
    MKDIR,
    FALLOCATE,
    MD5SUM,
    CAT,
    DD,
    TEST,
    FIND,
    MKTEMP,
    LXC_FREEZE,
    LXC_UNFREEZE,
    SLEEP,
    REALPATH,
    LS,
    ENV,
    VIRSH,
    TIMEOUT,
    TOUCH,
];

impl Tool {
    /// A command running this tool (resolved in the PATH of wherever it runs).
    pub fn cmd(&self) -> Cmd {
        Cmd::new(self.name)
    }

    /// The tool's path on the front-end, or an error naming the package.
    pub fn locate(&self) -> Result<PathBuf> {
        which::which(self.name).map_err(|_| {
            Error::failed(format!(
                "{} is not installed on the front-end: install the {} package",
                self.name, self.package
            ))
        })
    }

    pub fn available(&self) -> bool {
        which::which(self.name).is_ok()
    }
}

/// The package hint for a program name, for "cannot run" errors.
pub fn package_of(program: &str) -> Option<&'static str> {
    ALL.iter().find(|t| t.name == program).map(|t| t.package)
}
