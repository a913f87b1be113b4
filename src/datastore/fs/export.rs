//! export <app_id>  (DS_DRIVER_ACTION_DATA on stdin, sent by the market
//! driver): print the IMPORT_INFO XML that tells the marketplace where the
//! image is and what it is.
//!
//! ```text
//! <IMPORT_INFO><IMPORT_SOURCE><![CDATA[SRC]]></IMPORT_SOURCE><MD5><![CDATA[md5]]></MD5>
//! <SIZE><![CDATA[IMAGE/SIZE]]></SIZE><FORMAT><![CDATA[fmt]]></FORMAT><DISPOSE>NO</DISPOSE></IMPORT_INFO>
//! ```
//! SRC is `ssh://<bridge>:<SOURCE>` when the datastore has a BRIDGE_LIST
//! (the host is chosen by the id given, the app id, as the reference does).
//! The md5 is `md5sum` streaming the file where it is; the format is
//! qemu-img's, `raw` when qemu-img cannot tell.

use crate::datastore::fs::ctx::FsCtx;
use crate::datastore::fs::qemu_info::image_info;
use crate::dispatch::Invocation;
use crate::error::{Context, Error, Result};
use crate::tools;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportInfo {
    pub source: String,
    pub md5: String,
    pub size: String,
    pub format: String,
}

impl ImportInfo {
    pub fn render(&self) -> String {
        format!(
            "<IMPORT_INFO><IMPORT_SOURCE>{}</IMPORT_SOURCE><MD5>{}</MD5><SIZE>{}</SIZE><FORMAT>{}</FORMAT><DISPOSE>NO</DISPOSE></IMPORT_INFO>\n",
            cdata(&self.source),
            cdata(&self.md5),
            cdata(&self.size),
            cdata(&self.format)
        )
    }
}

/// A CDATA section holding any text (a `]]>` inside is split across two).
pub fn cdata(s: &str) -> String {
    format!("<![CDATA[{}]]>", s.replace("]]>", "]]]]><![CDATA[>"))
}

pub fn run(inv: &mut Invocation) -> Result<String> {
    let mut ctx = FsCtx::load(inv)?;
    let image = ctx.image()?;
    let source = image.require("SOURCE")?.to_string();
    let size = image.require("SIZE")?.to_string();
    export(&mut ctx, &source, &size).map(|i| i.render())
}

pub fn export(ctx: &mut FsCtx, source: &str, size: &str) -> Result<ImportInfo> {
    let bridge = ctx.bridge(ctx.image_key())?;
    let host = ctx.host(bridge.as_deref())?;
    let at = crate::datastore::fs::hostfs::at(bridge.as_deref(), source);
    let sum = tools::MD5SUM.cmd().args(["--", source]);
    let out = host
        .run_stdout(&sum)
        .context(|| format!("cannot compute the md5 of {at} for the export"))?;
    let md5 = out
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_start_matches('\\');
    if md5.len() != 32 || !md5.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::failed(format!(
            "cannot compute the md5 of {at}: '{sum}' printed '{}'",
            crate::error::one_line(&out)
        )));
    }
    let format = match image_info(host, source) {
        Ok(i) => i.format,
        Err(e) => {
            log::info!(
                "cannot read the format of {at} ({}); exporting it as raw",
                e.summary()
            );
            "raw".to_string()
        }
    };
    let source = match &bridge {
        Some(h) => format!("ssh://{h}:{source}"),
        None => source.to_string(),
    };
    Ok(ImportInfo {
        source,
        md5: md5.to_string(),
        size: size.to_string(),
        format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_info_in_the_reference_order() {
        let i = ImportInfo {
            source: "ssh://lab1:/ds/1/abc".into(),
            md5: "d41d8cd98f00b204e9800998ecf8427e".into(),
            size: "10".into(),
            format: "qcow2".into(),
        };
        assert_eq!(
            i.render(),
            "<IMPORT_INFO><IMPORT_SOURCE><![CDATA[ssh://lab1:/ds/1/abc]]></IMPORT_SOURCE>\
             <MD5><![CDATA[d41d8cd98f00b204e9800998ecf8427e]]></MD5><SIZE><![CDATA[10]]></SIZE>\
             <FORMAT><![CDATA[qcow2]]></FORMAT><DISPOSE>NO</DISPOSE></IMPORT_INFO>\n"
        );
        let x = cdata("a]]>b");
        let doc = format!("<A>{x}</A>");
        assert_eq!(
            roxmltree::Document::parse(&doc)
                .unwrap()
                .root_element()
                .text(),
            Some("a]]>b")
        );
    }
}
