//! The one-storage benchmark (run by `scripts/bench`, not in CI): fixed cost
//! per action, ssh connections and commands per action, copy throughput and
//! bytes on the wire, scaling, binary size and peak memory, each against
//! baselines measured in the same run on the sshd lab of the tests.
//!
//! `cargo bench --bench perf -- [--reps N] [--out DIR] [--quick]` writes
//! `DIR/performance.md` and `DIR/performance.png` (DIR defaults to docs/).
//! Sections whose actions this build does not implement yet (they answer
//! "Operation not supported") are reported as not measured.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/tm_support/mod.rs"]
mod tm_support;

mod copy;
mod fixed;
mod measure;
mod report;
mod scaling;

use std::path::PathBuf;
use std::time::Instant;

use common::lab::Lab;
use report::Report;
use tm_support::{TmEnv, Transport};

pub const TRANSPORTS: [Transport; 2] = [Transport::Ssh2, Transport::Cli];

/// Everything the sections share: the labs and a remotes tree per TM
/// driver and transport.
pub struct Bench {
    pub reps: usize,
    pub quick: bool,
    pub bin: PathBuf,
    /// Private storage per host (the ssh driver): lab1, lab2.
    pub lab: Lab,
    /// Storage every host shares with the front-end (the shared driver): lab1.
    pub shared: Lab,
    ssh_envs: Vec<TmEnv>,
    shared_envs: Vec<TmEnv>,
    pub scratch: tempfile::TempDir,
    /// (what, peak RSS, seconds) of the big copies, for section 5.
    pub peaks: std::cell::RefCell<Vec<(String, u64, f64)>>,
}

impl Bench {
    /// The remotes tree whose `driver` uses transport `t`.
    pub fn env(&self, driver: &str, t: Transport) -> &TmEnv {
        let i = TRANSPORTS.iter().position(|x| *x == t).unwrap_or(0);
        match driver {
            "shared" => &self.shared_envs[i],
            _ => &self.ssh_envs[i],
        }
    }

    /// The lab a driver runs against.
    pub fn lab_for(&self, driver: &str) -> &Lab {
        match driver {
            "shared" => &self.shared,
            _ => &self.lab,
        }
    }

    /// `<ds_root>/<rel>` of a lab.
    pub fn path(lab: &Lab, rel: &str) -> String {
        lab.ds_root().join(rel).display().to_string()
    }
}

/// An action this build does not implement yet answers so.
pub fn unsupported(stderr: &str) -> bool {
    stderr.contains("Operation not supported")
}

pub fn label(t: Transport) -> &'static str {
    match t {
        Transport::Ssh2 => "ssh2 (libssh2)",
        Transport::Cli => "ssh (system ssh, ControlMaster)",
    }
}

pub fn short(t: Transport) -> &'static str {
    match t {
        Transport::Ssh2 => "ssh2",
        Transport::Cli => "ssh",
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test --all-targets` (scripts/test,
    // CI) runs this binary without it: the benchmark is by hand only.
    if !args.iter().any(|a| a == "--bench") {
        println!("benches/perf: not run by cargo test; run it with scripts/bench");
        return;
    }
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let quick = args.iter().any(|a| a == "--quick");
    let reps: usize = opt("--reps")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2 } else { 5 });
    let out = PathBuf::from(
        opt("--out").unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/docs").to_string()),
    );
    std::fs::create_dir_all(&out).expect("create the output directory");
    let started = Instant::now();
    let load_before = loadavg();

    let b = Bench {
        reps,
        quick,
        bin: PathBuf::from(env!("CARGO_BIN_EXE_one-storage")),
        lab: Lab::start(2),
        shared: Lab::start_shared(1),
        ssh_envs: TRANSPORTS
            .iter()
            .map(|t| TmEnv::new(*t, "FRONTEND_HOSTS=fe"))
            .collect(),
        shared_envs: TRANSPORTS.iter().map(|t| TmEnv::new(*t, "")).collect(),
        scratch: tempfile::Builder::new()
            .prefix("one-bench-")
            .tempdir_in("/var/tmp")
            .expect("scratch dir"),
        peaks: Default::default(),
    };
    let mut r = Report::default();
    let ports: Vec<u16> = b
        .lab
        .hosts()
        .iter()
        .chain(b.shared.hosts())
        .map(|h| h.port)
        .collect();
    if !measure::NftCounter::install(&ports) {
        r.note("nft is not available: bytes on the wire are not counted (0)".into());
    }
    let step = |what: &str| eprintln!("[{:6.1} s] {what}", started.elapsed().as_secs_f64());

    step("fixed cost per action");
    fixed::fixed_cost(&b, &mut r);
    step("ssh connections and commands per action");
    fixed::connections(&b, &mut r);
    step("copy throughput");
    copy::throughput(&b, &mut r);
    step("scaling: monitor");
    scaling::monitor(&b, &mut r);
    step("scaling: copy time against size");
    scaling::copy_sizes(&b, &mut r);
    step("binary size and peak memory");
    copy::footprint(&b, &mut r);

    measure::NftCounter::remove();
    let took = started.elapsed().as_secs_f64();
    let load_after = loadavg();
    r.note(format!(
        "{reps} repetitions per figure (median); the run took {took:.0} s; load average {load_before} before, {load_after} after{}",
        if quick { " (--quick: fewer sizes)" } else { "" }
    ));
    let header = format!(
        "# Performance\n\nGenerated by `scripts/bench` ({}, {} cores, {}). Every figure is the median of \
         {reps} runs; ratios compare with a baseline measured in the same run, on the same loopback \
         sshd lab the tests use (hosts in their own mount namespaces). Do not edit by hand: re-run \
         `scripts/bench`.\n",
        uname(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        date(),
    );
    r.write(
        &out.join("performance.md"),
        &out.join("performance.png"),
        &header,
    );
    step("done");
    println!(
        "one-storage benchmark ({took:.0} s): {}",
        out.join("performance.md").display()
    );
    print!("{}", r.summary());
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn uname() -> String {
    measure::run_ok(
        {
            let mut c = std::process::Command::new("uname");
            c.args(["-sr"]);
            c
        },
        b"",
    )
    .stdout
    .trim()
    .to_string()
}

fn date() -> String {
    measure::run_ok(
        {
            let mut c = std::process::Command::new("date");
            c.args(["-u", "+%Y-%m-%d %H:%M UTC"]);
            c
        },
        b"",
    )
    .stdout
    .trim()
    .to_string()
}
