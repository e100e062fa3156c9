//! `docs/events.md` against `engine/src/events.rs`: every event type of the enum is
//! documented (and nothing else), each example envelope round-trips exactly through
//! `EventEnvelope` (so its field names and types are the ones published), and each
//! schema names exactly the example's fields with matching JSON types. The inbound
//! examples parse as the inbound consumer parses them.

use metmos_engine::domain::inbound;
use metmos_engine::events::EventEnvelope;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The `#[serde(rename = "...")]` types inside `pub enum Event { ... }`.
fn enum_types(source: &str) -> BTreeSet<String> {
    let start = source.find("pub enum Event {").expect("enum Event");
    let body = &source[start..];
    let end = body.find("\n}").expect("end of enum Event");
    body[..end]
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("#[serde(rename = \"")
                .and_then(|r| r.strip_suffix("\")]"))
                .map(str::to_string)
        })
        .collect()
}

/// Code blocks of `docs/events.md` with the given info string, each with the `### `
/// heading it sits under.
fn blocks(doc: &str, info: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if let Some(h) = line.strip_prefix("### ") {
            heading = h.trim_matches('`').to_string();
        } else if line.trim() == format!("```{info}") {
            let mut body = String::new();
            for l in lines.by_ref() {
                if l.trim() == "```" {
                    break;
                }
                body.push_str(l);
                body.push('\n');
            }
            out.push((heading.clone(), body));
        }
    }
    out
}

fn json_type_ok(schema: &Value, value: &Value) -> bool {
    let kind = match value {
        Value::Null => "null",
        Value::String(_) => "string",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    match &schema["type"] {
        Value::String(t) => t == kind,
        Value::Array(ts) => ts.iter().any(|t| t == kind),
        _ => false,
    }
}

#[test]
fn every_event_is_documented_with_an_exact_example_and_schema() {
    let doc = read("../docs/events.md");
    let types = enum_types(&read("src/events.rs"));
    assert!(types.len() > 20, "parsed the enum: {types:?}");

    let examples = blocks(&doc, "json example");
    let documented: BTreeSet<String> = examples.iter().map(|(h, _)| h.clone()).collect();
    assert_eq!(
        documented, types,
        "docs/events.md lists exactly the enum's event types"
    );
    assert_eq!(examples.len(), types.len(), "one example per type");

    let schemas = blocks(&doc, "json schema");
    assert_eq!(schemas.len(), types.len(), "one schema per type");
    for ((heading, example), (schema_heading, schema)) in examples.iter().zip(&schemas) {
        assert_eq!(heading, schema_heading);
        assert!(
            doc.contains(&format!("Routing key `{heading}`")),
            "{heading}: routing key stated"
        );
        let raw: Value = serde_json::from_str(example)
            .unwrap_or_else(|e| panic!("{heading}: example is not JSON: {e}"));
        let envelope: EventEnvelope = serde_json::from_value(raw.clone())
            .unwrap_or_else(|e| panic!("{heading}: example is not an event the engine emits: {e}"));
        assert_eq!(envelope.event_type(), heading, "{heading}: example type");
        assert_eq!(
            envelope.to_json(),
            raw,
            "{heading}: the example is exactly what the engine publishes"
        );
        let schema: Value = serde_json::from_str(schema)
            .unwrap_or_else(|e| panic!("{heading}: schema is not JSON: {e}"));
        let props = schema["properties"].as_object().expect("properties");
        let data = raw["data"].as_object().expect("data");
        let fields: BTreeSet<&String> = data.keys().collect();
        assert_eq!(
            props.keys().collect::<BTreeSet<_>>(),
            fields,
            "{heading}: schema fields"
        );
        for (name, value) in data {
            assert!(
                json_type_ok(&props[name], value),
                "{heading}.{name}: {value} vs {}",
                props[name]
            );
        }
        for required in schema["required"].as_array().expect("required") {
            let required = required.as_str().unwrap();
            assert!(
                !data[required].is_null(),
                "{heading}.{required} is required"
            );
        }
    }
}

#[test]
fn inbound_examples_parse_as_the_consumer_parses_them() {
    let doc = read("../docs/events.md");
    let inbound_blocks = blocks(&doc, "json inbound");
    let headings: Vec<&str> = inbound_blocks.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        headings,
        [inbound::CHAIN_ESCROW, inbound::INTEGRATION_NOTIFICATION]
    );
    for (heading, body) in &inbound_blocks {
        let parsed =
            inbound::parse(body.trim().as_bytes()).unwrap_or_else(|e| panic!("{heading}: {e}"));
        match (heading.as_str(), parsed.command) {
            (inbound::CHAIN_ESCROW, inbound::InboundCommand::Chain(_))
            | (inbound::INTEGRATION_NOTIFICATION, inbound::InboundCommand::Notify(_)) => {}
            (h, c) => panic!("{h} parsed as {c:?}"),
        }
    }
}
