//! Sections 1 and 2: the fixed cost of an action (against process start and
//! one bare remote command over the same transport, both through the same
//! `unshare` wrapper the actions run in) and the ssh connections and
//! commands each TM action costs on the hosts.

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use base64::Engine;

use crate::measure::{median, run, run_ok, Wire, MIB};
use crate::report::{ms, ratio, Report, Table};
use crate::tm_support::{Disk, Transport, Vm};
use crate::{label, short, unsupported, Bench, TRANSPORTS};

/// One TM action as the sections run it: driver, action, arguments; `prep`
/// restores the state the action needs before each run.
pub struct TmCase {
    pub driver: &'static str,
    pub action: &'static str,
    pub args: Vec<String>,
    pub prep: Box<dyn Fn(&Bench)>,
    /// Record this run's peak memory under that description (section 5).
    pub peak: Option<String>,
}

impl TmCase {
    /// Runs the case once: its time, or why it could not be measured (not
    /// implemented in this build, or the failure reason with the command).
    pub fn run_once(&self, b: &Bench, t: Transport) -> Result<f64, String> {
        self.run_full(b, t).map(|r| r.secs)
    }

    /// Like `run_once`, with everything the run left (peak memory, output).
    pub fn run_full(&self, b: &Bench, t: Transport) -> Result<crate::measure::Run, String> {
        (self.prep)(b);
        let env = b.env(self.driver, t);
        let lab = b.lab_for(self.driver);
        let mut c = lab.frontend_command(env.action_path(self.driver, self.action));
        c.args(&self.args).env("PATH", fake_path(env));
        let r = run(c, b"");
        if r.ok() {
            if let Some(what) = &self.peak {
                let what = format!("{what}, over {}", short(t));
                b.peaks.borrow_mut().push((what, r.max_rss, r.secs));
            }
            return Ok(r);
        }
        if unsupported(&r.stderr) {
            return Err(format!(
                "`{}` is not implemented in this build",
                self.name()
            ));
        }
        Err(format!(
            "`{} {}` over {} failed: {}",
            self.name(),
            self.args.join(" "),
            short(t),
            r.reason()
        ))
    }

    pub fn name(&self) -> String {
        format!("tm/{}/{}", self.driver, self.action)
    }
}

/// The fake onevm/onedatastore first in PATH (TmEnv keeps them in <dir>/bin).
pub fn fake_path(env: &crate::tm_support::TmEnv) -> String {
    format!(
        "{}:{}",
        env.dir.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Median of `reps` timed runs of a command built by `mk`.
fn time(reps: usize, mut mk: impl FnMut() -> (Command, Vec<u8>)) -> f64 {
    let v: Vec<f64> = (0..reps)
        .map(|_| {
            let (c, stdin) = mk();
            run_ok(c, &stdin).secs
        })
        .collect();
    median(&v)
}

/// The TM actions of section 1, each touching one host.
fn cases(b: &Bench) -> Vec<TmCase> {
    let lab = &b.lab;
    let disk = |rel: &str| format!("lab1:{}", Bench::path(lab, rel));
    for t in TRANSPORTS {
        let vm = Vm::new(9)
            .disk(Disk::new(0).attr("FORMAT", "raw"))
            .disk(Disk::new(1).attr("FORMAT", "raw").attr("SIZE", "64"))
            .on("lab1", 0);
        b.env("ssh", t).set_vm(9, &vm.xml());
        let img = Bench::path(&b.shared, "1/persistent");
        let vm = Vm::new(7)
            .disk(
                Disk::new(0)
                    .attr("SOURCE", &img)
                    .attr("FORMAT", "raw")
                    .attr("CLONE", "NO"),
            )
            .on("lab1", 0);
        b.env("shared", t).set_vm(7, &vm.xml());
    }
    let victim = lab.host_path("lab1", &lab.ds_root().join("0/9/disk.0"));
    let made = lab.host_path("lab1", &lab.ds_root().join("0/9/disk.1"));
    let persistent = b.shared.ds_root().join("1/persistent");
    let linked = b.shared.ds_root().join("0/7/disk.0");
    vec![
        TmCase {
            driver: "ssh",
            action: "delete",
            args: vec![disk("0/9/disk.0"), "9".into(), "0".into()],
            prep: Box::new(move |_| {
                std::fs::create_dir_all(victim.parent().unwrap()).unwrap();
                std::fs::write(&victim, b"x").unwrap();
            }),
            peak: None,
        },
        TmCase {
            driver: "ssh",
            action: "mkimage",
            args: vec![
                "64".into(),
                "raw".into(),
                disk("0/9/disk.1"),
                "9".into(),
                "0".into(),
            ],
            prep: Box::new(move |_| {
                let _ = std::fs::remove_file(&made);
            }),
            peak: None,
        },
        TmCase {
            driver: "shared",
            action: "ln",
            args: vec![
                format!("fe:{}", persistent.display()),
                format!("lab1:{}", linked.display()),
                "7".into(),
                "1".into(),
            ],
            prep: Box::new(move |_| {
                std::fs::create_dir_all(persistent.parent().unwrap()).unwrap();
                let f = std::fs::File::create(&persistent).unwrap();
                f.set_len(64 * MIB).unwrap();
                let _ = std::fs::remove_file(&linked);
            }),
            peak: None,
        },
    ]
}

pub fn fixed_cost(b: &Bench, r: &mut Report) {
    let reps = (b.reps * 2).max(5);
    let lab = &b.lab;
    let version = time(reps, || (cmd(&b.bin, &["--version"]), vec![]));
    let wrapper = time(reps, || (lab.frontend_command("/bin/true"), vec![]));
    let wrapped_version = time(reps, || {
        let mut c = lab.frontend_command(&b.bin);
        c.arg("--version");
        (c, vec![])
    });
    let ssh_true = time(reps, || {
        let mut c = lab.frontend_command("ssh");
        c.args(["lab1", "true"]);
        (c, vec![])
    });
    let ssh2_true = median(&(0..reps).map(|_| libssh2_true(b)).collect::<Vec<_>>());
    let bare = |t: Transport| match t {
        Transport::Cli => ssh_true,
        Transport::Ssh2 => wrapped_version + ssh2_true,
    };

    let (stat, monitor, qemu_info, mkdir_df) = ds_local(b, reps);

    let mut t = Table::new(&["what", "median", "ratio to baseline"]);
    let row = |t: &mut Table, what: &str, v: f64, base: Option<(f64, &str)>| {
        let rel = base.map_or(String::from("-"), |(x, n)| {
            format!("{} of {n}", ratio(v, x))
        });
        t.row(vec![what.to_string(), ms(v), rel]);
    };
    row(
        &mut t,
        "baseline: `one-storage --version` (process start)",
        version,
        None,
    );
    row(
        &mut t,
        "baseline: the `unshare --mount` wrapper alone (`true`)",
        wrapper,
        None,
    );
    row(
        &mut t,
        "baseline: `one-storage --version` in the wrapper",
        wrapped_version,
        None,
    );
    row(
        &mut t,
        "baseline: `ssh lab1 true` in the wrapper (system ssh, new connection)",
        ssh_true,
        None,
    );
    row(
        &mut t,
        "baseline: libssh2 connect + login + `true` (in-process) + `--version` in the wrapper",
        bare(Transport::Ssh2),
        None,
    );
    row(
        &mut t,
        "baseline: `qemu-img info -U --output=json` (what the reference's stat runs; ours only for formats other than raw/qcow2)",
        qemu_info,
        None,
    );
    row(
        &mut t,
        "baseline: `mkdir -p` then `df -B1M -P` (what the reference's monitor runs; ours only on a bridge)",
        mkdir_df,
        None,
    );
    row(
        &mut t,
        "DS `datastore/fs/stat` (local raw file)",
        stat,
        Some((version, "process start")),
    );
    row(
        &mut t,
        "DS `datastore/fs/monitor` (local datastore)",
        monitor,
        Some((version, "process start")),
    );
    r.target(
        "local DS action under 5 ms median, dominated by process start",
        format!(
            "stat {}, monitor {} (process start {}; qemu-img info alone {}, mkdir + df alone {})",
            ms(stat),
            ms(monitor),
            ms(version),
            ms(qemu_info),
            ms(mkdir_df)
        ),
        Some(stat.max(monitor) < 0.005),
    );

    let mut worst: Option<(f64, String)> = None;
    for case in cases(b) {
        for tr in TRANSPORTS {
            if let Err(e) = case.run_once(b, tr) {
                r.note(format!("not measured: {e}"));
                continue;
            }
            let v: Vec<f64> = (0..reps)
                .filter_map(|_| case.run_once(b, tr).ok())
                .collect();
            let m = median(&v);
            let base = bare(tr);
            let what = format!("TM `{}` on lab1, {}", case.name(), label(tr));
            row(&mut t, &what, m, Some((base, "the bare remote command")));
            let rel = m / base;
            if worst.as_ref().is_none_or(|(w, _)| rel > *w) {
                worst = Some((rel, format!("{} over {}", case.name(), short(tr))));
            }
        }
    }
    r.section(
        "1. Fixed cost per action",
        "Local DS actions run directly through their symlink; TM actions run as oned runs them, through \
         the installed symlink from the lab's front-end, which is a `unshare --mount` wrapper binding \
         the lab's ssh set-up over ~/.ssh. The wrapper's own cost is measured and included in every \
         baseline below, so the ratios compare like with like. The bare remote command for ssh2 has no \
         command-line client: it is a libssh2 connect, login and `true` from this process plus a \
         process start in the wrapper.",
    );
    r.table(&t);
    match worst {
        Some((rel, what)) => r.target(
            "TM action on one host: at most 1.5x one bare remote command",
            format!("worst {rel:.2}x ({what})"),
            Some(rel <= 1.5),
        ),
        None => r.target(
            "TM action on one host: at most 1.5x one bare remote command",
            "no TM action implemented in this build".into(),
            None,
        ),
    }
}

/// DS stat of a local raw image and DS monitor of a local datastore, and
/// the programs they run: (stat, monitor, qemu-img info, mkdir + df).
fn ds_local(b: &Bench, reps: usize) -> (f64, f64, f64, f64) {
    let dir = b.scratch.path().join("ds-local");
    let base = dir.join("100");
    std::fs::create_dir_all(&base).unwrap();
    let img = dir.join("image.raw");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(64 * MIB)
        .unwrap();
    let dump = format!(
        "<DS_DRIVER_ACTION_DATA><IMAGE><ID>7</ID><TYPE>0</TYPE><PATH>{img}</PATH><TEMPLATE/></IMAGE>\
         <DATASTORE><ID>100</ID><DS_MAD>fs</DS_MAD><TM_MAD>ssh</TM_MAD><TYPE>0</TYPE>\
         <BASE_PATH>{base}</BASE_PATH><TEMPLATE><SAFE_DIRS><![CDATA[{dir}]]></SAFE_DIRS>\
         <RESTRICTED_DIRS><![CDATA[/etc]]></RESTRICTED_DIRS></TEMPLATE></DATASTORE></DS_DRIVER_ACTION_DATA>",
        img = img.display(),
        base = base.display(),
        dir = dir.display()
    );
    let b64 = base64::engine::general_purpose::STANDARD
        .encode(dump)
        .into_bytes();
    let ds = |a: &str| {
        b.env("ssh", Transport::Ssh2)
            .remotes
            .join("datastore/fs")
            .join(a)
    };
    let stat = time(reps, || {
        let mut c = Command::new(ds("stat"));
        c.arg("100");
        (c, b64.clone())
    });
    let monitor = time(reps, || {
        let mut c = Command::new(ds("monitor"));
        c.arg("100");
        (c, b64.clone())
    });
    let img_s = img.display().to_string();
    let qemu_info = time(reps, || {
        (
            cmd(
                Path::new("qemu-img"),
                &["info", "-U", "--output=json", &img_s],
            ),
            vec![],
        )
    });
    let base_s = base.display().to_string();
    let mkdir = time(reps, || {
        (cmd(Path::new("mkdir"), &["-p", "--", &base_s]), vec![])
    });
    let df = time(reps, || {
        (cmd(Path::new("df"), &["-B1M", "-P", &base_s]), vec![])
    });
    (stat, monitor, qemu_info, mkdir + df)
}

/// Connect, log in and run `true` with libssh2 from this process (seconds).
fn libssh2_true(b: &Bench) -> f64 {
    let h = b.lab.host("lab1");
    let key = b.lab.fe_ssh_dir().join("id_ed25519");
    let start = std::time::Instant::now();
    let tcp = TcpStream::connect((h.addr.as_str(), h.port)).expect("connect lab1");
    let _ = tcp.set_nodelay(true);
    let mut s = ssh2::Session::new().expect("libssh2 session");
    s.set_tcp_stream(tcp);
    let _ = s.method_pref(ssh2::MethodType::CryptCs, "chacha20-poly1305@openssh.com");
    let _ = s.method_pref(ssh2::MethodType::CryptSc, "chacha20-poly1305@openssh.com");
    s.handshake().expect("ssh handshake with lab1");
    s.userauth_pubkey_file("root", None, &key, None)
        .expect("login to lab1");
    let mut ch = s.channel_session().expect("channel");
    ch.exec("true").expect("exec true");
    let mut sink = Vec::new();
    std::io::Read::read_to_end(&mut ch, &mut sink).expect("read");
    ch.wait_close().expect("close");
    start.elapsed().as_secs_f64()
}

fn cmd(p: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(p);
    c.args(args);
    c
}

/// Section 2: connections and commands per TM action, counted in the
/// hosts' sshd logs, for each transport.
pub fn connections(b: &Bench, r: &mut Report) {
    let mut t = Table::new(&[
        "action",
        "transport",
        "ssh connections",
        "remote commands (sessions)",
    ]);
    // One host: the target. Two hosts (lab2 pushes to lab1): the
    // front-end connects to each once and the data goes over lab2's own
    // connection to lab1, as in the reference; counted separately.
    let mut over: Vec<String> = Vec::new();
    let mut two_hosts: Vec<String> = Vec::new();
    let mut any = false;
    let mut cases = cases(b);
    cases.extend(crate::copy::count_cases(b));
    for case in &cases {
        for tr in TRANSPORTS {
            let lab = b.lab_for(case.driver);
            let wire = Wire::start(lab);
            if let Err(e) = case.run_once(b, tr) {
                r.note(format!("not measured: {e}"));
                continue;
            }
            let w = wire.stop();
            any = true;
            let hosts = case_hosts(case);
            if hosts > 1 {
                two_hosts.push(format!(
                    "{} connections for {hosts} hosts ({} over {})",
                    w.connections,
                    case.name(),
                    short(tr)
                ));
                if w.connections > hosts + 1 {
                    over.push(format!("{} connections: {}", w.connections, case.name()));
                }
            } else if w.connections > 1 {
                over.push(format!(
                    "{} connections for {} hosts: {} {} over {}",
                    w.connections,
                    case_hosts(case),
                    case.name(),
                    case.args
                        .first()
                        .map(|a| a.split(':').next().unwrap_or(""))
                        .unwrap_or(""),
                    short(tr)
                ));
            }
            t.row(vec![
                format!("`{} {}`", case.name(), case.args.join(" ")),
                short(tr).to_string(),
                w.connections.to_string(),
                w.commands.to_string(),
            ]);
        }
    }
    r.section(
        "2. SSH connections and commands per action",
        "Counted on the hosts: `Accepted publickey` (connections) and `Starting session` (one per \
         remote command, shell or subsystem) lines of each lab sshd's log (LogLevel VERBOSE), summed \
         over every host the action touched.",
    );
    r.table(&t);
    r.target(
        "TM action touching one host: one SSH connection",
        if !any {
            "no TM action implemented in this build".into()
        } else if over.is_empty() {
            format!(
                "{} action × transport runs counted: one connection for one host; host to host, \
                 one from the front-end to each host plus the source host's own to the destination: {}",
                t_rows(&t),
                two_hosts.join(", ")
            )
        } else {
            over.join("; ")
        },
        any.then_some(over.is_empty()),
    );
}

fn t_rows(t: &Table) -> usize {
    t.rows()
}

/// How many hosts an action touches: one per `host:` argument other than `fe`.
fn case_hosts(case: &TmCase) -> usize {
    let mut hosts: Vec<&str> = case
        .args
        .iter()
        .filter_map(|a| a.split_once(':').map(|(h, _)| h))
        .filter(|h| *h != "fe" && h.starts_with("lab"))
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts.len().max(1)
}
