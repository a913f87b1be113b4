use crate::support::*;

fn field(doc: &roxmltree::Document, name: &str) -> String {
    let n = doc.root_element().children().find(|c| c.has_tag_name(name));
    n.unwrap_or_else(|| panic!("no {name}"))
        .text()
        .unwrap_or("")
        .to_string()
}

#[test]
fn import_info_has_source_md5_size_format_and_dispose() {
    let ds = Ds::new();
    std::fs::create_dir_all(&ds.base).unwrap();
    let img = ds.base.join("0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a");
    qemu_img(&["create", "-q", "-f", "qcow2", img.to_str().unwrap(), "10M"]);
    write_pattern(&img, "qcow2", 0x42, 0, 1 << 20);
    let d = ds
        .dump()
        .image("SOURCE", img.to_str().unwrap())
        .image("SIZE", "10");
    let out = ds.run("export", "3", &d).ok().to_string();
    let doc = roxmltree::Document::parse(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(doc.root_element().tag_name().name(), "IMPORT_INFO");
    let order: Vec<&str> = doc
        .root_element()
        .children()
        .filter(|c| c.is_element())
        .map(|c| c.tag_name().name())
        .collect();
    assert_eq!(order, ["IMPORT_SOURCE", "MD5", "SIZE", "FORMAT", "DISPOSE"]);
    assert_eq!(field(&doc, "IMPORT_SOURCE"), img.to_str().unwrap());
    let md5 = sh("md5sum", &[img.to_str().unwrap()]);
    assert_eq!(field(&doc, "MD5"), md5.split_whitespace().next().unwrap());
    assert_eq!(field(&doc, "SIZE"), "10");
    assert_eq!(field(&doc, "FORMAT"), "qcow2");
    assert_eq!(field(&doc, "DISPOSE"), "NO");
    assert!(out.contains("<MD5><![CDATA["), "values are CDATA: {out}");
}

#[test]
fn a_missing_image_is_a_clear_error() {
    let ds = Ds::new();
    let gone = ds.base.join("gone");
    let d = ds
        .dump()
        .image("SOURCE", gone.to_str().unwrap())
        .image("SIZE", "10");
    let line = ds
        .run("export", "3", &d)
        .fails_with("cannot compute the md5 of");
    assert!(line.contains("No such file"), "{line}");
}
