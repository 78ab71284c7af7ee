//! Any file as an entry document (Markdown with YAML front matter, YAML, JSON): parsed or
//! refused with a message, never a panic; a parsed Markdown document rendered again parses
//! to the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verbund::doc::{self, Format, TypeInfo};

fn story() -> TypeInfo {
    TypeInfo::from_api(&serde_json::json!({
        "name": "story",
        "schema": {
            "x-verbund": {"markdown": ["body"]},
            "properties": {"title": {"type": "string"}, "body": {"type": "string"}, "topics": {"type": "array"}}
        }
    }))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let info = story();
    for format in [Format::Markdown, Format::Yaml, Format::Json] {
        if let Ok(value) = doc::parse(Some(&info), format, text)
            && format == Format::Markdown
            && let Some(fields) = value.as_object()
            && fields.keys().all(|k| k == "title" || k == "body" || k == "topics")
        {
            let again = doc::render(&info, fields, &[]);
            let back = doc::parse(Some(&info), Format::Markdown, &again)
                .expect("a rendered document parses");
            assert_eq!(back, value, "{again}");
        }
    }
});
