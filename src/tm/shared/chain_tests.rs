use super::*;

const SD: &str = "/ds/0/7/disk.0.snap";

fn img(backing: Option<&str>) -> Option<ImageInfo> {
    Some(ImageInfo {
        format: "qcow2".into(),
        virtual_size: 1 << 30,
        backing: backing.map(str::to_string),
        backing_format: backing.map(|b| {
            if b.starts_with("/ds/1") {
                "raw"
            } else {
                "qcow2"
            }
            .to_string()
        }),
        ..Default::default()
    })
}

/// A clone with snapshots 0 and 1: 0 over the image, 1 over 0, 2 (active) over 1.
fn clone_with_two_snapshots() -> SnapDir {
    let mut d = SnapDir::default();
    d.files.insert("0".into(), img(Some("/ds/1/abc")));
    d.files.insert("1".into(), img(Some("disk.0.snap/0")));
    d.files.insert("2".into(), img(Some("disk.0.snap/1")));
    d
}

#[test]
fn resolves_relative_absolute_and_outside_names() {
    let d = clone_with_two_snapshots();
    let c = Chain::new(&d, SD);
    assert_eq!(c.resolve("disk.0.snap/1").as_deref(), Some("1"));
    assert_eq!(c.resolve("/ds/0/7/disk.0.snap/1").as_deref(), Some("1"));
    assert_eq!(
        c.resolve("/ds/0/7/disk.0.snap/disk.0.snap/1").as_deref(),
        Some("1")
    );
    assert_eq!(c.resolve("/ds/1/abc"), None);
    assert_eq!(c.resolve("disk.0.snap/9"), None);
    assert_eq!(c.lineage("2"), vec!["2", "1", "0"]);
    assert_eq!(c.children("0"), vec!["1"]);
}

#[test]
fn deleting_the_snapshot_under_the_active_layer_rebases_it() {
    let d = clone_with_two_snapshots();
    let c = Chain::new(&d, SD);
    let p = plan_delete(&c, "1", Some("2"), None).unwrap();
    assert_eq!(
        p,
        vec![
            Step::Rebase {
                child: "2".into(),
                backing: Some("disk.0.snap/0".into()),
                backing_format: Some("qcow2".into())
            },
            Step::Remove("1".into())
        ]
    );
}

#[test]
fn deleting_the_first_snapshot_rebases_its_child_onto_the_image() {
    let d = clone_with_two_snapshots();
    let c = Chain::new(&d, SD);
    let p = plan_delete(&c, "0", Some("2"), None).unwrap();
    assert_eq!(
        p[0],
        Step::Rebase {
            child: "1".into(),
            backing: Some("/ds/1/abc".into()),
            backing_format: Some("raw".into())
        }
    );
    assert_eq!(p[1], Step::Remove("0".into()));
}

#[test]
fn a_leaf_is_removed_and_an_absent_one_is_done_already() {
    let mut d = clone_with_two_snapshots();
    // After a revert to 0 the active layer 2 sits on 0; 1 is a leaf.
    d.files.insert("2".into(), img(Some("disk.0.snap/0")));
    let c = Chain::new(&d, SD);
    assert_eq!(
        plan_delete(&c, "1", Some("2"), None).unwrap(),
        vec![Step::Remove("1".into())]
    );
    assert_eq!(plan_delete(&c, "5", Some("2"), None).unwrap(), vec![]);
    assert!(plan_delete(&c, "2", Some("2"), None).is_err());
    // Both 1 and the active 2 sit on 0: deleting 0 rebases both.
    let p = plan_delete(&c, "0", Some("2"), None).unwrap();
    assert_eq!(p.len(), 3, "{p:?}");
}

#[test]
fn current_files_redirect_and_are_removed() {
    let mut d = clone_with_two_snapshots();
    d.current.insert("3".into(), "/ds/0/7/disk.0.snap/1".into());
    let c = Chain::new(&d, SD);
    assert_eq!(c.file_of("3"), "1");
    assert!(c.referenced("1", None));
    let p = plan_delete(&c, "3", Some("2"), None).unwrap();
    assert_eq!(p.last(), Some(&Step::Remove("3.current".into())));
    assert!(p.contains(&Step::Remove("1".into())));
}

#[test]
fn live_deletes_use_blockpull_and_blockcommit() {
    let d = clone_with_two_snapshots();
    let c = Chain::new(&d, SD);
    let live = vec!["1".to_string(), "0".to_string()];
    let p = plan_delete(&c, "1", Some("2"), Some(&live)).unwrap();
    assert_eq!(
        p,
        vec![
            Step::BlockPull {
                base: Some(format!("{SD}/0"))
            },
            Step::Remove("1".into())
        ]
    );
    let p = plan_delete(&c, "0", Some("2"), Some(&live)).unwrap();
    assert_eq!(
        p,
        vec![
            Step::BlockCommit {
                top: format!("{SD}/1"),
                base: format!("{SD}/0")
            },
            Step::WriteCurrent {
                file: "1.current".into(),
                path: format!("{SD}/0")
            },
            Step::Remove("1".into())
        ]
    );
    // Not in the running chain: an ordinary rebase with qemu-img -U.
    let p = plan_delete(&c, "0", Some("2"), Some(&[])).unwrap();
    assert!(matches!(p[0], Step::Rebase { .. }));
}
