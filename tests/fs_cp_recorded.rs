//! cp's remote sink, without ssh: a host named "bridge" whose transport
//! records every command and runs it on this machine. It shows the exact
//! commands a BRIDGE_LIST host receives, and that they work (dd writes
//! sparse, qemu-img converts, the temporary files go away on failure).

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use one_storage::command::Cmd;
use one_storage::config::{Config, Origin};
use one_storage::datastore::fs::checksum::Expected;
use one_storage::datastore::fs::cp::{copy, CpArgs};
use one_storage::datastore::fs::source::{Source, StreamSettings};
use one_storage::datastore::fs::stream::Pipeline;
use one_storage::error::Result;
use one_storage::transport::local::Local;
use one_storage::transport::{Host, Io, Output, Transport};
use support::*;

struct Recording {
    log: Arc<Mutex<Vec<String>>>,
    local: Local,
}

impl Transport for Recording {
    fn exec(&mut self, cmd: &Cmd, io: Io<'_>) -> Result<Output> {
        self.log.lock().unwrap().push(cmd.shell_line());
        self.local.exec(cmd, io)
    }
}

fn bridge() -> (Host, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let t = Recording {
        log: log.clone(),
        local: Local::default(),
    };
    (Host::new(Some("bridge".into()), Box::new(t)), log)
}

fn args(src: &Path, base: &Path, tmpl: &[(&str, &str)], expected: Expected) -> CpArgs {
    let mut conf = Config::new();
    conf.set("SAFE_DIRS", "/tmp", Origin::Template("datastore"));
    for (k, v) in tmpl {
        conf.set(k, v, Origin::Template("datastore"));
    }
    let convert_to = conf.get("DRIVER").map(str::to_string);
    CpArgs {
        id: "7".into(),
        src: Source::Local(src.to_path_buf()),
        base: base.to_path_buf(),
        expected,
        stream: StreamSettings::from_conf(&conf, false).unwrap(),
        convert_to,
        sparse: conf.flag("SPARSE", true).unwrap(),
        dd_block: "64k".into(),
    }
}

fn run(a: &CpArgs) -> (Result<String>, Vec<String>) {
    let (mut host, log) = bridge();
    let mut pipe = Pipeline::open(&a.src, &a.stream, a.expected.clone()).unwrap();
    let r = copy(&mut host, a, &mut pipe);
    let log = log.lock().unwrap().clone();
    (r, log)
}

#[test]
fn the_bridge_gets_dd_info_convert_and_mv() {
    let fs = Fs::new();
    let src = fs.path("disk.raw");
    raw_image(&src, 64 << 20, &[0, 63]);
    let base = fs.path("ds/1");
    let a = args(&src, &base, &[("DRIVER", "qcow2")], Expected::default());
    let (r, log) = run(&a);
    let (img, format) = source_and_format(&r.unwrap());
    assert_eq!(format, "qcow2");
    assert_eq!(qemu_info(&img), ("qcow2".into(), 64 << 20, None));
    assert_eq!(files_in(&base), vec![img.clone()]);

    let d = img.display();
    let tmp = format!("{d}.part-{}", std::process::id());
    let conv = format!("{d}.conv-{}", std::process::id());
    let want = vec![
        format!("mkdir -p {}", base.display()),
        format!("test -e {d}"),
        format!("dd of={tmp} bs=64k iflag=fullblock conv=sparse,fsync status=none"),
        format!("qemu-img info -U --output=json -- {tmp}"),
        format!("qemu-img convert -f raw -O qcow2 {tmp} {conv}"),
        format!("mv -f {conv} {d}"),
        format!("rm -f {tmp}"),
    ];
    assert_eq!(log, want);
}

#[test]
fn dd_on_the_bridge_keeps_holes_unless_sparse_no() {
    let fs = Fs::new();
    let src = fs.path("disk.raw");
    raw_image(&src, 32 << 20, &[5]);
    let base = fs.path("ds");
    let (r, _) = run(&args(&src, &base, &[], Expected::default()));
    let (img, format) = source_and_format(&r.unwrap());
    assert_eq!(format, "raw");
    assert!(allocated(&img) <= 2 << 20, "allocated {}", allocated(&img));
    assert!(std::fs::read(&img).unwrap() == std::fs::read(&src).unwrap());
    std::fs::remove_file(&img).unwrap();

    let (r, log) = run(&args(&src, &base, &[("SPARSE", "no")], Expected::default()));
    let (img, _) = source_and_format(&r.unwrap());
    assert!(allocated(&img) >= 32 << 20, "allocated {}", allocated(&img));
    assert!(log[2].contains(" conv=fsync "), "{}", log[2]);
}

#[test]
fn a_failure_on_the_bridge_removes_the_temporary_files_there() {
    let fs = Fs::new();
    let src = fs.path("disk.raw");
    std::fs::write(&src, vec![1u8; 100_000]).unwrap();
    let base = fs.path("ds");
    let wrong = Expected {
        md5: Some("0".repeat(32)),
        sha1: None,
    };
    let (r, log) = run(&args(&src, &base, &[], wrong));
    let e = r.unwrap_err().summary();
    assert!(
        e.starts_with(&format!("Checksum mismatch for {}", src.display())),
        "{e}"
    );
    assert!(log.last().unwrap().starts_with("rm -f "), "{log:?}");
    assert_eq!(files_in(&base), Vec::<PathBuf>::new());
}
