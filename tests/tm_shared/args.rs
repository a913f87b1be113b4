//! Bad arguments and bad input: one clear reason line, a non-zero exit,
//! nothing touched.

use crate::fx::*;
use crate::tm_support::{Transport, Vm};

fn bad_arguments_give_one_clear_line(t: Transport) {
    let fx = Fx::new(t);
    fx.vm(&Vm::new(7).on(&fx.host, 0));
    let img = fx.raw_image("1/abc", MIB, 0);
    let disk = fx.p("0/7/disk.0");
    let src = format!("fe:{img}");
    let dst = fx.at(&disk);
    let dotdot = fx.at(&fx.p("0/7/../8/disk.0"));
    let other = fx.at(&fx.p("0/9/disk.0"));
    let vm_dir = fx.p("0/7");
    let nope = fx.p("nope");
    let unknown = format!("lab9:{disk}");
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "clone",
            vec![&src, &dst, "7"],
            "expected 4 arguments, got 3",
        ),
        (
            "clone",
            vec![&src, "lab1", "7", "1"],
            "is not a valid location",
        ),
        (
            "clone",
            vec![&src, &dst, "x7", "1"],
            "vm_id 'x7' is not a VM id",
        ),
        ("clone", vec![&src, &disk, "7", "1"], "has no host part"),
        (
            "clone",
            vec![&src, "-oProxyCommand=x:/a/0/7/disk.0", "7", "1"],
            "not a valid host name",
        ),
        (
            "clone",
            vec![&src, &dotdot, "7", "1"],
            "'..' is not allowed",
        ),
        (
            "ln",
            vec![&src, &other, "7", "1"],
            "not in the directory of VM 7",
        ),
        (
            "clone",
            vec![&src, &unknown, "7", "1"],
            "cannot reach host lab9",
        ),
        ("mv", vec![&dst, &dst, "7"], "expected 4 arguments, got 3"),
        ("mvds", vec![&dst, &img, "7"], "expected 4 arguments, got 3"),
        (
            "cpds",
            vec![&dst, &img, "last", "7", "1"],
            "snap_id 'last' is not a number",
        ),
        (
            "cpds",
            vec![&dst, &img, "-2", "7", "1"],
            "must be -1 or a snapshot id",
        ),
        (
            "premigrate",
            vec!["lab1", "-oX", &vm_dir, "7", "0"],
            "not a valid host name",
        ),
        (
            "premigrate",
            vec!["lab1", "lab2", "rel/7", "7", "0"],
            "not an absolute path",
        ),
        ("monitor", vec!["zero"], "is not an object id"),
        ("monitor_ds", vec![&nope], "is not a directory"),
    ];
    for (action, args, want) in cases {
        let r = fx.fail(action, &args);
        assert!(r.contains(want), "{action} {args:?}: {r}");
    }
    // A VM oned does not know.
    let r = fx.fail("clone", &[&src, &other, "9", "1"]);
    assert!(r.contains("cannot read VM 9 from oned"), "{r}");
    assert!(
        !exists(&fx.p("0/7")) && !exists(&fx.p("0/9")),
        "nothing was created"
    );
}

crate::both_transports!(bad_arguments_give_one_clear_line);
