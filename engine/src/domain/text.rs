//! Text every string input must satisfy, whatever field it fills: no NUL and no other C0
//! control character (U+0000–U+001F) nor DEL, except newline and tab where text is free.
//!
//! PostgreSQL refuses NUL in `text` (a 500 before this), and control characters in names
//! or ids corrupt logs and terminals. One rule, used by the http edge for every query
//! parameter and JSON body, by the WebSocket for every frame, and by the free-text parsers.

use serde_json::Value;

/// Where a string may break lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// A name, id, filter or query parameter: no control character at all.
    Line,
    /// Free text (a bio, a message, a description): newline and tab allowed.
    Free,
}

/// The first character `kind` forbids in `raw`, if any. Every forbidden character is
/// ASCII, and no byte of a multi-byte UTF-8 sequence is, so the bytes are scanned, not
/// decoded: this runs over every string of every frame.
pub fn forbidden_char(raw: &str, kind: TextKind) -> Option<char> {
    raw.bytes().map(char::from).find(|&c| {
        let control = c <= '\u{1f}' || c == '\u{7f}';
        control && !(kind == TextKind::Free && (c == '\n' || c == '\t'))
    })
}

/// `raw` when `kind` allows every character of it; else the 400 message naming `field`.
pub fn check<'a>(field: &str, raw: &'a str, kind: TextKind) -> Result<&'a str, String> {
    match forbidden_char(raw, kind) {
        None => Ok(raw),
        Some(c) => Err(refusal(field, c)),
    }
}

fn refusal(field: &str, c: char) -> String {
    format!(
        "{field} must not contain control characters (found U+{:04X})",
        u32::from(c)
    )
}

/// Every string (keys and values) of a JSON document; values may be free text, keys are
/// lines. The message names the offending field by its path (`data.messageContent`).
pub fn check_json(value: &Value) -> Result<(), String> {
    walk(None, value)
}

/// Whether a JSON text might hold a string with a character this module forbids. JSON
/// allows no control character raw inside a string, so one can only arrive escaped
/// (`\u0000`, `\n`): a text with no backslash and no DEL (which JSON allows raw) holds
/// none, in any key or value, and needs no `check_json`. Most chat frames are such texts.
pub fn may_hold_control(json: &str) -> bool {
    json.bytes().any(|b| b == b'\\' || b == 0x7f)
}

/// Where a value sits in a document: a list of steps on the stack, spelled out as a path
/// only for a refusal, so a document that passes (nearly all of them: every chat frame)
/// costs no allocation.
struct JsonPath<'a> {
    parent: Option<&'a JsonPath<'a>>,
    step: Step<'a>,
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `data.messageContent`, `tags[1]`, `body[0]`; `body` for the document itself.
fn spell(path: Option<&JsonPath<'_>>) -> String {
    let mut steps = Vec::new();
    let mut at = path;
    while let Some(p) = at {
        steps.push(&p.step);
        at = p.parent;
    }
    let mut out = String::new();
    for step in steps.into_iter().rev() {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) => {
                if out.is_empty() {
                    out.push_str("body");
                }
                out.push_str(&format!("[{i}]"));
            }
        }
    }
    if out.is_empty() {
        out.push_str("body");
    }
    out
}

fn walk(path: Option<&JsonPath<'_>>, value: &Value) -> Result<(), String> {
    match value {
        Value::String(s) => match forbidden_char(s, TextKind::Free) {
            Some(c) => Err(refusal(&spell(path), c)),
            None => Ok(()),
        },
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, v)| {
            let here = JsonPath {
                parent: path,
                step: Step::Index(i),
            };
            walk(Some(&here), v)
        }),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            if let Some(c) = forbidden_char(k, TextKind::Line) {
                return Err(refusal(&spell(path), c));
            }
            let here = JsonPath {
                parent: path,
                step: Step::Key(k),
            };
            walk(Some(&here), v)
        }),
        _ => Ok(()),
    }
}

/// Every decoded name and value of a query string (`a=1&b=%00`).
pub fn check_query(query: &str) -> Result<(), String> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key);
        check("query parameter", &key, TextKind::Line)?;
        check(&key, &percent_decode(value), TextKind::Line)?;
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` decoding, lossy: invalid UTF-8 becomes U+FFFD
/// (which the field's own parser then refuses or keeps), never a control character.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push((hi * 16 + lo) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_refuse_every_control_free_text_keeps_newline_and_tab() {
        for c in [
            '\0', '\u{1}', '\r', '\n', '\t', '\u{1b}', '\u{1f}', '\u{7f}',
        ] {
            let s = format!("a{c}b");
            assert!(check("name", &s, TextKind::Line).is_err(), "{c:?}");
        }
        assert!(check("bio", "one\ntwo\tthree", TextKind::Free).is_ok());
        for c in ['\0', '\r', '\u{1b}', '\u{7f}'] {
            let err = check("bio", &format!("a{c}b"), TextKind::Free).unwrap_err();
            assert!(
                err.starts_with("bio must not contain control characters"),
                "{err}"
            );
        }
        assert!(check("name", "Zoë 🦀 ordinary", TextKind::Line).is_ok());
    }

    #[test]
    fn json_documents_are_walked_and_the_field_named() {
        assert!(check_json(&json!({"a": "x\ny", "b": [1, "ok"], "c": {"d": null}})).is_ok());
        let err = check_json(&json!({"data": {"messageContent": "hi\u{0}"}})).unwrap_err();
        assert!(err.starts_with("data.messageContent must not"), "{err}");
        let err = check_json(&json!({"tags": ["ok", "\u{7}"]})).unwrap_err();
        assert!(err.starts_with("tags[1]"), "{err}");
        let err = check_json(&json!({"a": [{"b": ["x", "\u{1}"]}]})).unwrap_err();
        assert!(err.starts_with("a[0].b[1] must not"), "{err}");
        let err = check_json(&json!(["ok", "\u{1b}"])).unwrap_err();
        assert!(err.starts_with("body[1] must not"), "{err}");
        let err = check_json(&json!({"data": {"k\u{0}": 1}})).unwrap_err();
        assert!(err.starts_with("data must not"), "{err}");
        let err = check_json(&json!({"k\u{0}": 1})).unwrap_err();
        assert!(err.starts_with("body must not"), "{err}");
        let err = check_json(&json!("\u{0}")).unwrap_err();
        assert!(err.starts_with("body must not"), "{err}");
        assert!(check_json(&json!({"é🦀": "Zoë\n🦀\t"})).is_ok());
    }

    #[test]
    fn a_json_text_without_backslash_or_del_passes_the_walk() {
        let texts = [
            r#"{"action":"sendMessage","data":{"chatUuid":"c","messageContent":"héllo 🦀"}}"#,
            "{\n\t\"a\" :\r\n [1, \"x\", {\"b\": null}]\n}",
            r#"{"a":"line\nbreak"}"#,
            r#"{"a":"nul\u0000"}"#,
            r#"{"k\u0001":1}"#,
            r#"{"a":"tab\t","b":"\"quoted\""}"#,
            "{\"a\":\"del\u{7f}\"}",
            r#"{"a":"\u007f"}"#,
        ];
        for text in texts {
            let value: Value = serde_json::from_str(text).expect("valid JSON");
            if !may_hold_control(text) {
                assert!(check_json(&value).is_ok(), "{text}");
            }
        }
        assert!(!may_hold_control(texts[0]) && !may_hold_control(texts[1]));
        for text in &texts[2..] {
            assert!(may_hold_control(text), "{text}");
        }
        assert!(check_json(&serde_json::from_str(texts[3]).expect("valid")).is_err());
        assert!(check_json(&serde_json::from_str(texts[6]).expect("valid")).is_err());
        assert!(serde_json::from_str::<Value>("{\"a\":\"raw\u{1}\"}").is_err());
    }

    #[test]
    fn query_strings_are_decoded_before_the_check() {
        assert!(check_query("q=alice+smith&limit=10&after=").is_ok());
        assert!(check_query("q=%E2%9C%93&x=%zz&y=%").is_ok());
        let err = check_query("limit=10&q=a%00b").unwrap_err();
        assert!(err.starts_with("q must not contain"), "{err}");
        assert!(check_query("q=a%0Ab").is_err(), "no newline in a query");
        assert!(check_query("a%01=1").is_err());
    }
}
