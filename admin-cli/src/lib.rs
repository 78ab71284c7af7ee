//! The parts of the `verbund` CLI that other code (fuzz targets, tests) uses directly: entries
//! as Markdown with YAML front matter, YAML and JSON documents.

pub mod doc;
