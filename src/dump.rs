//! The action dump: `DS_DRIVER_ACTION_DATA` and the VM/datastore XML oned
//! prints, parsed once into an owned tree with a small path helper.
//!
//! Paths look like `IMAGE/TEMPLATE/MD5`, `TEMPLATE/DISK[DISK_ID=3]/SIZE`,
//! `HISTORY_RECORDS/HISTORY[last()]/DS_ID` or `HISTORY[last()-1]/DS_ID`. A
//! leading `/` names the root element itself (`/VM/ID`). Text is CDATA or
//! plain, entities unescaped, surrounding white space trimmed.

use std::io::Read;

use base64::Engine;

use crate::error::{Error, Result};

/// An XML element with its text and children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// Parses an XML document. `what` names it in errors ("the action data").
    pub fn parse(xml: &str, what: &str) -> Result<Element> {
        let doc = roxmltree::Document::parse(xml)
            .map_err(|e| Error::Input(format!("{what} is not valid XML: {e}")))?;
        Ok(Element::from_node(doc.root_element()))
    }

    fn from_node(n: roxmltree::Node<'_, '_>) -> Element {
        let mut text = String::new();
        let mut children = Vec::new();
        for c in n.children() {
            if c.is_element() {
                children.push(Element::from_node(c));
            } else if c.is_text() {
                text.push_str(c.text().unwrap_or(""));
            }
        }
        Element {
            name: n.tag_name().name().to_string(),
            text: text.trim().to_string(),
            children,
        }
    }

    /// The first element at `path`.
    pub fn find(&self, path: &str) -> Option<&Element> {
        self.find_all(path).into_iter().next()
    }

    /// Every element at `path`, in document order.
    pub fn find_all(&self, path: &str) -> Vec<&Element> {
        let (mut cur, rest): (Vec<&Element>, &str) = match path.strip_prefix('/') {
            Some(abs) => {
                let (first, rest) = abs.split_once('/').unwrap_or((abs, ""));
                match Step::parse(first) {
                    Some(step) if step.name == self.name => (vec![self], rest),
                    _ => return Vec::new(),
                }
            }
            None => (vec![self], path),
        };
        for seg in rest.split('/').filter(|s| !s.is_empty()) {
            let Some(step) = Step::parse(seg) else {
                return Vec::new();
            };
            cur = cur.into_iter().flat_map(|e| step.apply(e)).collect();
        }
        cur
    }

    /// The text at `path`; `None` when missing or empty.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.find(path)
            .map(|e| e.text.as_str())
            .filter(|t| !t.is_empty())
    }

    /// The text at `path`, or an error naming the missing field.
    pub fn require(&self, path: &str) -> Result<&str> {
        self.get(path).ok_or_else(|| {
            Error::Input(format!(
                "the {} data has no {path}: oned sent an incomplete action dump",
                self.name
            ))
        })
    }

    /// Every text at `path` (e.g. every `DISK/TARGET`).
    pub fn get_all(&self, path: &str) -> Vec<&str> {
        self.find_all(path)
            .into_iter()
            .map(|e| e.text.as_str())
            .collect()
    }
}

/// One path step: `NAME`, `NAME[KEY=VALUE]`, `NAME[N]`, `NAME[last()]`, `NAME[last()-K]`.
struct Step<'a> {
    name: &'a str,
    pred: Option<&'a str>,
}

impl<'a> Step<'a> {
    fn parse(seg: &'a str) -> Option<Step<'a>> {
        match seg.split_once('[') {
            None => Some(Step {
                name: seg,
                pred: None,
            }),
            Some((name, p)) => Some(Step {
                name,
                pred: Some(p.strip_suffix(']')?),
            }),
        }
    }

    fn apply<'e>(&self, e: &'e Element) -> Vec<&'e Element> {
        let all: Vec<&Element> = e.children.iter().filter(|c| c.name == self.name).collect();
        let Some(pred) = self.pred else { return all };
        let pick = |i: Option<usize>| i.and_then(|i| all.get(i).copied()).into_iter().collect();
        if let Some(rest) = pred.strip_prefix("last()") {
            let back: usize = match rest.strip_prefix('-') {
                Some(k) => k.trim().parse().unwrap_or(usize::MAX),
                None if rest.is_empty() => 0,
                None => return Vec::new(),
            };
            return pick(all.len().checked_sub(1).and_then(|l| l.checked_sub(back)));
        }
        if let Ok(n) = pred.trim().parse::<usize>() {
            return pick(n.checked_sub(1));
        }
        match pred.split_once('=') {
            Some((k, v)) => {
                let v = v.trim().trim_matches(|c| c == '\'' || c == '"');
                all.into_iter()
                    .filter(|c| c.get(k.trim()) == Some(v))
                    .collect()
            }
            None => Vec::new(),
        }
    }
}

/// Decodes base64 that may carry line breaks or surrounding blanks (dumps
/// piped by hand through `base64` wrap at 76 columns).
pub fn decode_base64(text: &str, what: &str) -> Result<String> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if clean.is_empty() {
        return Err(Error::Input(format!(
            "no {what} was given: pipe the base64 DS_DRIVER_ACTION_DATA on stdin"
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(clean.as_bytes())
        .map_err(|e| Error::Input(format!("the {what} is not valid base64: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::Input(format!("the decoded {what} is not UTF-8 text")))
}

/// The input of a datastore action: the id from argv and the decoded dump.
#[derive(Debug, Clone)]
pub struct DsAction {
    pub id: String,
    pub data: Element,
}

impl DsAction {
    /// Accepts both conventions: `<action> <id>` with base64 on stdin
    /// (OpenNebula 6.8+), and `<action> <base64> <id>` (older releases).
    pub fn from_input(args: &[String], stdin: &mut dyn Read) -> Result<DsAction> {
        let (b64, id) = match args {
            [id] => {
                let mut s = String::new();
                stdin
                    .read_to_string(&mut s)
                    .map_err(|e| Error::io("reading the action data from stdin", e))?;
                (s, id.clone())
            }
            [b64, id, ..] if !b64.chars().all(|c| c.is_ascii_digit() || c == '-') => (b64.clone(), id.clone()),
            _ => {
                return Err(Error::Usage(
                    "expected the object id as the only argument, with the base64 action data on stdin \
                     (or '<base64> <id>' as older OpenNebula releases pass it)"
                        .into(),
                ))
            }
        };
        if !(id.chars().all(|c| c.is_ascii_digit()) || id == "-1") || id.is_empty() {
            return Err(Error::Usage(format!(
                "'{id}' is not an object id: expected a number"
            )));
        }
        let xml = decode_base64(&b64, "action data")?;
        let data = Element::parse(&xml, "the decoded action data")?;
        if data.name != "DS_DRIVER_ACTION_DATA" {
            return Err(Error::Input(format!(
                "the action data's root element is <{}>, expected <DS_DRIVER_ACTION_DATA>",
                data.name
            )));
        }
        Ok(DsAction { id, data })
    }

    pub fn image(&self) -> Result<&Element> {
        self.data
            .find("IMAGE")
            .ok_or_else(|| Error::Input("the action data has no IMAGE element".into()))
    }

    pub fn datastore(&self) -> Result<&Element> {
        self.data
            .find("DATASTORE")
            .ok_or_else(|| Error::Input("the action data has no DATASTORE element".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VM: &str = r#"<VM><ID>7</ID><TEMPLATE>
        <DISK><DISK_ID>0</DISK_ID><SIZE>10</SIZE></DISK>
        <DISK><DISK_ID>3</DISK_ID><SIZE><![CDATA[ 2048 ]]></SIZE><SPARSE>no</SPARSE></DISK>
        </TEMPLATE><HISTORY_RECORDS><HISTORY><DS_ID>0</DS_ID></HISTORY>
        <HISTORY><DS_ID>100</DS_ID></HISTORY></HISTORY_RECORDS>
        <USER_TEMPLATE><NOTE>a &amp; b</NOTE></USER_TEMPLATE></VM>"#;

    #[test]
    fn paths_with_predicates() {
        let vm = Element::parse(VM, "VM").unwrap();
        assert_eq!(vm.get("/VM/ID"), Some("7"));
        assert_eq!(vm.get("ID"), Some("7"));
        assert_eq!(vm.get("TEMPLATE/DISK[DISK_ID=3]/SIZE"), Some("2048"));
        assert_eq!(vm.get("TEMPLATE/DISK[DISK_ID=0]/SPARSE"), None);
        assert_eq!(vm.get("TEMPLATE/DISK[2]/DISK_ID"), Some("3"));
        assert_eq!(vm.get("HISTORY_RECORDS/HISTORY[last()]/DS_ID"), Some("100"));
        assert_eq!(vm.get("HISTORY_RECORDS/HISTORY[last()-1]/DS_ID"), Some("0"));
        assert_eq!(vm.get("HISTORY_RECORDS/HISTORY[last()-2]/DS_ID"), None);
        assert_eq!(vm.get_all("TEMPLATE/DISK/DISK_ID"), vec!["0", "3"]);
        assert_eq!(vm.get("USER_TEMPLATE/NOTE"), Some("a & b"));
        assert_eq!(vm.get("/IMAGE/ID"), None);
        assert!(vm
            .require("TEMPLATE/NOPE")
            .unwrap_err()
            .to_string()
            .contains("TEMPLATE/NOPE"));
    }

    fn dump(xml: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(xml)
    }

    const DS: &str = "<DS_DRIVER_ACTION_DATA><IMAGE><ID>4</ID></IMAGE>\
        <DATASTORE><BASE_PATH>/ds/1</BASE_PATH></DATASTORE></DS_DRIVER_ACTION_DATA>";

    #[test]
    fn both_input_conventions() {
        let b64 = dump(DS);
        let a = DsAction::from_input(&["4".into()], &mut b64.as_bytes()).unwrap();
        assert_eq!(a.id, "4");
        assert_eq!(a.datastore().unwrap().get("BASE_PATH"), Some("/ds/1"));
        let b = DsAction::from_input(&[b64.clone(), "4".into()], &mut &b""[..]).unwrap();
        assert_eq!(b.data, a.data);
    }

    #[test]
    fn base64_with_line_breaks() {
        let b64 = dump(DS);
        let wrapped: String = b64
            .as_bytes()
            .chunks(20)
            .map(|c| std::str::from_utf8(c).unwrap().to_string() + "\n")
            .collect();
        assert!(DsAction::from_input(&["4".into()], &mut wrapped.as_bytes()).is_ok());
    }

    #[test]
    fn malformed_input_is_a_clear_error() {
        let e = DsAction::from_input(&["4".into()], &mut &b"!!!"[..]).unwrap_err();
        assert!(e.to_string().contains("not valid base64"), "{e}");
        let e = DsAction::from_input(&["4".into()], &mut dump("<a>").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("not valid XML"), "{e}");
        let e = DsAction::from_input(&["4".into()], &mut dump("<VM/>").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("DS_DRIVER_ACTION_DATA"), "{e}");
        let e = DsAction::from_input(&["4".into()], &mut &b""[..]).unwrap_err();
        assert!(e.to_string().contains("stdin"), "{e}");
        let e = DsAction::from_input(&["x".into()], &mut &b""[..]).unwrap_err();
        assert!(e.to_string().contains("not an object id"), "{e}");
    }
}
