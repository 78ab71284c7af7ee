//! Entries as files editors can write: Markdown with YAML front matter for types with a
//! Markdown body (the front matter holds the other fields), YAML for the others, and JSON.
//!
//! ```text
//! ---
//! # story 01JD… · version 3 · draft
//! kind: success_story
//! title: Digitale Werkbank für den Mittelstand
//! topics: [industrie_4_0]
//! ---
//!
//! Der **Text** der Geschichte in Markdown …
//! ```
//!
//! Comment lines (`# …`) are YAML comments: the CLI puts hints and validation errors there and
//! they never become content.

use anyhow::{Context, bail};
use serde_json::{Map, Value};

/// What the CLI knows of a content type (from `GET /api/v1/schemas/{type}`).
#[derive(Debug, Clone)]
pub struct TypeInfo {
    pub name: String,
    /// The field written as the Markdown body of the file, if the type has one.
    pub body_field: Option<String>,
    /// The resolved JSON Schema.
    pub schema: Value,
}

impl TypeInfo {
    pub fn from_api(data: &Value) -> Self {
        let schema = data["schema"].clone();
        let body_field = match &schema["x-verbund"]["markdown"] {
            Value::Array(a) => a.first().and_then(Value::as_str).map(String::from),
            Value::String(s) => Some(s.clone()),
            _ => None,
        };
        TypeInfo {
            name: data["name"].as_str().unwrap_or_default().to_string(),
            body_field,
            schema,
        }
    }

    /// The file extension of this type's documents.
    pub fn extension(&self) -> &'static str {
        if self.body_field.is_some() {
            "md"
        } else {
            "yaml"
        }
    }
}

/// The format of a file, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Yaml,
    Json,
}

impl Format {
    pub fn of_path(path: &std::path::Path) -> anyhow::Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("md" | "markdown") => Ok(Format::Markdown),
            Some("yaml" | "yml") => Ok(Format::Yaml),
            Some("json") => Ok(Format::Json),
            _ => bail!(
                "{} has an extension the CLI does not read; use .md (Markdown with YAML front matter), .yaml or .json",
                path.display()
            ),
        }
    }
}

fn yaml_of(map: &Map<String, Value>) -> anyhow::Result<String> {
    if map.is_empty() {
        return Ok(String::new());
    }
    serde_yaml_ng::to_string(map).context("could not write the fields as YAML")
}

/// Writes `fields` as a document of `info`'s type, with `comments` as comment lines on top.
pub fn render(info: &TypeInfo, fields: &Map<String, Value>, comments: &[String]) -> String {
    let mut head = String::new();
    for c in comments {
        for line in c.lines() {
            head.push_str("# ");
            head.push_str(line);
            head.push('\n');
        }
    }
    match &info.body_field {
        Some(body_field) => {
            let mut front = fields.clone();
            let body = front
                .remove(body_field)
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let yaml = yaml_of(&front).unwrap_or_default();
            format!("---\n{head}{yaml}---\n\n{}\n", body.trim_end())
        }
        None => format!("{head}{}", yaml_of(fields).unwrap_or_default()),
    }
}

/// Reads a document back into fields. Errors say where the document is wrong.
pub fn parse(info: Option<&TypeInfo>, format: Format, text: &str) -> anyhow::Result<Value> {
    match format {
        Format::Json => serde_json::from_str(text).context("the file is not valid JSON"),
        Format::Yaml => yaml_object(text, 0),
        Format::Markdown => {
            let body_field = info.and_then(|i| i.body_field.as_deref()).unwrap_or("body");
            let (front, body) = split_front_matter(text)?;
            // The front matter starts on the file's second line (after `---`).
            let mut value = yaml_object(front, 1)?;
            if let Some(obj) = value.as_object_mut() {
                if obj.contains_key(body_field) {
                    bail!(
                        "the front matter sets {body_field:?}, which is the Markdown text below the closing `---`; remove it from the front matter"
                    );
                }
                obj.insert(
                    body_field.to_string(),
                    Value::String(body.trim().to_string()),
                );
            }
            Ok(value)
        }
    }
}

/// Reads YAML fields; `skipped` lines of the file come before `text` (so that error lines are
/// the file's).
fn yaml_object(text: &str, skipped: usize) -> anyhow::Result<Value> {
    if text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    }) {
        return Ok(Value::Object(Map::new()));
    }
    let value: Value = serde_yaml_ng::from_str(text).map_err(|e| yaml_error(text, skipped, &e))?;
    match value {
        Value::Object(_) => Ok(value),
        Value::Null => Ok(Value::Object(Map::new())),
        other => bail!(
            "the fields must be a YAML mapping (`field: value` lines), got {}",
            match other {
                Value::Array(_) => "a list",
                _ => "a single value",
            }
        ),
    }
}

/// A YAML error in the editor's words: the file's line, the line itself, and for the most
/// common slip (a `: ` inside an unquoted value) how to write it.
fn yaml_error(text: &str, skipped: usize, e: &serde_yaml_ng::Error) -> anyhow::Error {
    let Some(loc) = e.location() else {
        return anyhow::anyhow!("the YAML is not valid: {e}");
    };
    let line_no = loc.line();
    let line = text.lines().nth(line_no.saturating_sub(1)).unwrap_or("");
    let reason = e.to_string();
    let reason = reason
        .split(" at line ")
        .next()
        .unwrap_or(&reason)
        .to_string();
    let mut out = format!(
        "the YAML is not valid in line {}, column {}: {reason}\n  {}",
        line_no + skipped,
        loc.column(),
        line.trim_end()
    );
    if reason.contains("mapping values are not allowed")
        && let Some((key, value)) = line.split_once(": ")
    {
        let value = value.trim().replace('"', "\\\"");
        out.push_str(&format!(
            "\n  a value that contains \": \" needs quotes: {}: \"{value}\"",
            key.trim_end()
        ));
    }
    anyhow::anyhow!(out)
}

/// Splits `---\nfront matter\n---\nbody`.
fn split_front_matter(text: &str) -> anyhow::Result<(&str, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .context("a Markdown entry starts with a line `---`, then the fields in YAML, then another `---`, then the text")?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Ok((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    bail!("the front matter is not closed: add a line `---` after the fields, before the text")
}

/// A template for a new entry: every field with its description; required ones filled with
/// a placeholder, optional ones commented out.
pub fn template(info: &TypeInfo) -> String {
    let schema = &info.schema;
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = String::new();
    let title = schema["title"].as_str().unwrap_or(&info.name);
    out.push_str(&format!(
        "# New {title} ({}). Fill in the fields, save and close the editor.\n",
        info.name
    ));
    out.push_str("# Lines starting with # are comments. Required fields are not commented out.\n");
    out.push_str(&format!(
        "# This writes the German (de) version. Another language is a translation of it: after\n# saving, run `verbund entry translate {} SLUG --to en` (or set locale: en and\n# translation_of: ID of the original here).\n",
        info.name
    ));
    let mut body_hint = String::new();
    if let Some(props) = schema["properties"].as_object() {
        for (name, prop) in props {
            if Some(name.as_str()) == info.body_field.as_deref() {
                body_hint = prop["description"].as_str().unwrap_or("").to_string();
                continue;
            }
            out.push('\n');
            if let Some(d) = prop["description"].as_str() {
                for line in d.lines() {
                    out.push_str(&format!("# {line}\n"));
                }
            }
            if let Some(values) = prop["enum"]
                .as_array()
                .or_else(|| prop["items"]["enum"].as_array())
            {
                let list: Vec<String> = values
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), String::from))
                    .collect();
                out.push_str(&format!("# one of: {}\n", list.join(", ")));
            }
            let mut one = Map::new();
            one.insert(name.clone(), placeholder(prop));
            let line = yaml_of(&one).unwrap_or_default();
            if required.contains(&name.as_str()) {
                out.push_str(&line);
            } else {
                for l in line.lines() {
                    out.push_str(&format!("#{l}\n"));
                }
            }
        }
    }
    match &info.body_field {
        Some(_) => format!(
            "---\n{out}---\n\n{}\n",
            if body_hint.is_empty() {
                "Text in Markdown.".to_string()
            } else {
                format!("<!-- {body_hint} Replace this line. -->")
            }
        ),
        None => out,
    }
}

fn placeholder(prop: &Value) -> Value {
    if let Some(first) = prop["enum"].as_array().and_then(|a| a.first()) {
        return first.clone();
    }
    if let Some(c) = prop.get("const") {
        return c.clone();
    }
    let ty = match &prop["type"] {
        Value::String(s) => s.as_str(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or(""),
        _ => "",
    };
    match ty {
        "array" => Value::Array(Vec::new()),
        "object" => {
            let mut m = Map::new();
            let required: Vec<&str> = prop["required"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = prop["properties"].as_object() {
                for (k, p) in props {
                    if required.contains(&k.as_str()) {
                        m.insert(k.clone(), placeholder(p));
                    }
                }
            }
            Value::Object(m)
        }
        "integer" | "number" => Value::from(0),
        "boolean" => Value::Bool(false),
        _ => Value::String(String::new()),
    }
}

/// The fields of an entry as the management API returns it (metadata removed), in the order
/// of the schema's properties.
pub fn fields_of(entry: &Value, info: &TypeInfo) -> Map<String, Value> {
    let Some(obj) = entry.as_object() else {
        return Map::new();
    };
    match info.schema["properties"].as_object() {
        Some(props) => props
            .keys()
            .filter_map(|k| obj.get(k).map(|v| (k.clone(), v.clone())))
            .collect(),
        None => obj.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn story() -> TypeInfo {
        TypeInfo::from_api(&json!({
            "name": "story",
            "schema": {
                "title": "Story",
                "x-verbund": {"markdown": ["body"]},
                "required": ["title", "body", "topics"],
                "properties": {
                    "title": {"type": "string", "description": "Überschrift"},
                    "topics": {"type": "array", "items": {"enum": ["cloud", "it_security"]}},
                    "teaser": {"type": "string"},
                    "body": {"type": "string", "description": "Text in Markdown."}
                }
            }
        }))
    }

    #[test]
    fn markdown_round_trip_keeps_every_field_and_the_body() {
        let info = story();
        let fields = json!({
            "title": "Cloud für Handwerksbetriebe: „Wir sparen 20 %“",
            "topics": ["cloud"],
            "teaser": "Zeile eins\nZeile zwei",
            "body": "# Überschrift\n\nText mit **Fett** und\n\n---\n\nnach einer Linie."
        });
        let text = render(
            &info,
            fields.as_object().unwrap(),
            &["story X · version 2".into()],
        );
        assert!(text.starts_with("---\n# story X · version 2\n"), "{text}");
        let back = parse(Some(&info), Format::Markdown, &text).unwrap();
        assert_eq!(back, fields);
    }

    #[test]
    fn template_lists_fields_and_parses_to_the_required_ones() {
        let info = story();
        let t = template(&info);
        assert!(t.contains("# Überschrift\ntitle: ''"), "{t}");
        assert!(t.contains("# one of: cloud, it_security"), "{t}");
        assert!(t.contains("#teaser: ''"), "{t}");
        let v = parse(Some(&info), Format::Markdown, &t).unwrap();
        assert_eq!(v["title"], "");
        assert_eq!(v["topics"], json!([]));
        assert!(v.get("teaser").is_none());
    }

    #[test]
    fn broken_documents_get_errors_that_say_where() {
        let info = story();
        let e = parse(Some(&info), Format::Markdown, "title: x\n").unwrap_err();
        assert!(e.to_string().contains("starts with a line `---`"), "{e}");
        let e = parse(Some(&info), Format::Markdown, "---\ntitle: x\n").unwrap_err();
        assert!(e.to_string().contains("not closed"), "{e}");
        let e = parse(Some(&info), Format::Markdown, "---\ntitle: [x\n---\nText").unwrap_err();
        assert!(e.to_string().contains("line"), "{e}");
        // An unquoted colon: the file's line (the front matter starts on line 2) and the fix.
        let e = parse(
            Some(&info),
            Format::Markdown,
            "---\ntopics: []\ntitle: Fachforum: Cloud\n---\nText",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("in line 3,"), "{e}");
        assert!(e.contains("title: \"Fachforum: Cloud\""), "{e}");
        let e = parse(None, Format::Yaml, "- a\n- b\n").unwrap_err();
        assert!(e.to_string().contains("a list"), "{e}");
    }
}
