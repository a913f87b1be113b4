//! Snapshots: full sparse copies, create → revert → delete.

use super::helpers::*;
use crate::tm_support::{Disk, Transport, Vm};

crate::both!(create_revert_delete_round_trip);

fn create_revert_delete_round_trip(t: Transport) {
    let x = T::new(1, t);
    x.env
        .set_vm(7, &Vm::new(7).disk(Disk::new(0)).on("lab1", 0).xml());
    let disk = x.on("lab1", "0/7/disk.0");
    sparse_file(&disk, 64 * MIB, 1);
    let before = head(&disk, 16 * MIB);
    let d = x.loc("lab1", "0/7/disk.0");

    x.lab.reset_counts();
    x.ok("snap_create", &[&d, "10", "7", "1"]);
    assert_eq!(
        (x.lab.ssh_connections("lab1"), x.lab.ssh_commands("lab1")),
        (1, 1)
    );
    let snap = x.on("lab1", "0/7/disk.0.snap/10");
    assert_eq!(head(&snap, 16 * MIB), before);
    assert!(allocated(&snap) < 4 * MIB, "sparse snapshot");
    assert_eq!(names(&x.on("lab1", "0/7/disk.0.snap")), ["10"]);

    sparse_file(&disk, 64 * MIB, 1); // new data in the disk
    assert_ne!(head(&disk, 16 * MIB), before);
    x.ok("snap_revert", &[&d, "10", "7", "1"]);
    assert_eq!(head(&disk, 16 * MIB), before, "the data reverted");
    assert_eq!(apparent(&disk), 64 * MIB);
    assert!(allocated(&disk) < 4 * MIB, "reverted disk stays sparse");
    assert_eq!(
        names(&x.on("lab1", "0/7")),
        ["disk.0", "disk.0.snap"],
        "no temporary"
    );

    let out = x.fail("snap_revert", &[&d, "11", "7", "1"]);
    assert!(why(&out).contains("does not exist"), "{}", why(&out));
    assert_eq!(
        head(&disk, 16 * MIB),
        before,
        "a failed revert keeps the disk"
    );

    x.ok("snap_delete", &[&d, "10", "7", "1"]);
    assert!(!snap.exists());
    x.ok("snap_delete", &[&d, "10", "7", "1"]);

    // No libvirt in the lab: the live snapshot fails and leaves nothing.
    let out = x.fail("snap_create_live", &[&d, "11", "7", "1"]);
    assert!(why(&out).contains("live snapshot"), "{}", why(&out));
    assert!(names(&x.on("lab1", "0/7/disk.0.snap")).is_empty());
}
