//! Just enough JSON to read `qemu-img info --output=json`: a value tree with
//! lookups by key. The crate has no JSON dependency and needs none for one
//! well-formed document written by qemu-img.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

impl Json {
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value(0)?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("unexpected text at byte {}", p.i));
        }
        Ok(v)
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(m) => m.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) if *n >= 0.0 && n.fract() == 0.0 => Some(*n as u64),
            _ => None,
        }
    }

    /// Every string stored under `key`, at any depth.
    pub fn strings_under(&self, key: &str, out: &mut Vec<String>) {
        match self {
            Json::Object(m) => {
                for (k, v) in m {
                    match v.as_str() {
                        Some(s) if k == key => out.push(s.to_string()),
                        _ => v.strings_under(key, out),
                    }
                }
            }
            Json::Array(a) => a.iter().for_each(|v| v.strings_under(key, out)),
            _ => {}
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > 64 {
            return Err("nested too deeply".into());
        }
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                let mut m = BTreeMap::new();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Json::Object(m));
                }
                loop {
                    let k = self.string()?;
                    self.expect(b':')?;
                    m.insert(k, self.value(depth + 1)?);
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        _ => break,
                    }
                }
                self.expect(b'}')?;
                Ok(Json::Object(m))
            }
            Some(b'[') => {
                self.i += 1;
                let mut a = Vec::new();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Json::Array(a));
                }
                loop {
                    a.push(self.value(depth + 1)?);
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        _ => break,
                    }
                }
                self.expect(b']')?;
                Ok(Json::Array(a))
            }
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(_) => self.scalar(),
            None => Err("unexpected end of JSON".into()),
        }
    }

    fn scalar(&mut self) -> Result<Json, String> {
        let start = self.i;
        while self.i < self.s.len() && !b",]} \t\r\n".contains(&self.s[self.i]) {
            self.i += 1;
        }
        let word = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
        match word {
            "null" => Ok(Json::Null),
            "true" => Ok(Json::Bool(true)),
            "false" => Ok(Json::Bool(false)),
            w => w
                .parse::<f64>()
                .map(Json::Number)
                .map_err(|_| format!("unexpected '{w}' at byte {start}")),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i).ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("unterminated string")?;
                    self.i += 1;
                    let ch = match e {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'u' => self.unicode()?,
                        other => other as char,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|e| e.to_string())
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
        self.i += 4;
        u32::from_str_radix(std::str::from_utf8(h).map_err(|e| e.to_string())?, 16)
            .map_err(|e| e.to_string())
    }

    fn unicode(&mut self) -> Result<char, String> {
        let hi = self.hex4()?;
        let pair = (0xD800..0xDC00).contains(&hi) && self.s.get(self.i..self.i + 2) == Some(b"\\u");
        let code = if pair {
            self.i += 2;
            let lo = self.hex4()?;
            0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
        } else {
            hi
        };
        Ok(char::from_u32(code).unwrap_or('\u{FFFD}'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_qemu_img_style_documents() {
        let j = Json::parse(
            r#"{ "virtual-size": 104857600, "format": "qcow2", "dirty-flag": false,
                 "children": [ { "info": { "filename": "a\"b\u00e9" } } ], "x": null,
                 "format-specific": { "data": { "data-file": "/d" } } }"#,
        )
        .unwrap();
        assert_eq!(
            j.get("virtual-size").and_then(Json::as_u64),
            Some(104857600)
        );
        assert_eq!(j.get("format").and_then(Json::as_str), Some("qcow2"));
        let mut names = Vec::new();
        j.strings_under("filename", &mut names);
        assert_eq!(names, vec!["a\"b\u{e9}"]);
        let mut d = Vec::new();
        j.strings_under("data-file", &mut d);
        assert_eq!(d, vec!["/d"]);
    }

    #[test]
    fn malformed_json_is_an_error() {
        for bad in ["", "{", "{\"a\" 1}", "[1,", "nope", "{} x"] {
            assert!(Json::parse(bad).is_err(), "{bad}");
        }
    }
}
