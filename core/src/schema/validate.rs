//! Turning JSON Schema results into `{pointer, message}` errors an editor can act on, and
//! checking the cross-field rules JSON Schema cannot express.

use std::cmp::Ordering;

use jsonschema::error::ValidationErrorKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ContentType;

/// One problem with an entry: where (a JSON pointer into the entry's fields) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FieldError {
    pub pointer: String,
    pub message: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)
    }
}

fn escape_pointer_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

pub(super) fn validate(
    ty: &ContentType,
    validator: &jsonschema::Validator,
    data: &Value,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !data.is_object() {
        errors.push(FieldError::new(
            "",
            format!(
                "an entry must be a JSON object of fields, got {}",
                json_kind(data)
            ),
        ));
        return errors;
    }
    for e in validator.iter_errors(data) {
        let at = e.instance_path().as_str().to_string();
        match e.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                errors.push(FieldError::new(
                    format!("{at}/{}", escape_pointer_token(name)),
                    "is required",
                ));
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    errors.push(FieldError::new(
                        format!("{at}/{}", escape_pointer_token(name)),
                        "is not a field of this type (check the spelling, or add it to the schema)",
                    ));
                }
            }
            ValidationErrorKind::Enum { options } => {
                let allowed: Vec<String> = options
                    .as_array()
                    .map(|a| a.iter().map(short).collect())
                    .unwrap_or_default();
                errors.push(FieldError::new(
                    at,
                    format!(
                        "{} is not allowed; use one of: {}",
                        short(e.instance()),
                        allowed.join(", ")
                    ),
                ));
            }
            ValidationErrorKind::Type { .. } => {
                let want = e.to_string();
                let want = want
                    .rsplit_once(" is not of type ")
                    .map(|(_, t)| t.to_string())
                    .unwrap_or(want);
                errors.push(FieldError::new(
                    at,
                    format!("must be of type {want}, got {}", json_kind(e.instance())),
                ));
            }
            ValidationErrorKind::Format { format } => {
                let hint = match format.as_str() {
                    "date-time" => " (RFC 3339 with a time zone, e.g. 2026-11-22T18:00:00+01:00)",
                    "date" => " (YYYY-MM-DD)",
                    "email" => " (an e-mail address like name@example.org)",
                    "uri" => " (an absolute URL like https://example.org/)",
                    _ => "",
                };
                errors.push(FieldError::new(
                    at,
                    format!("{} is not a valid {format}{hint}", short(e.instance())),
                ));
            }
            ValidationErrorKind::Pattern { pattern } => {
                let message = match id_field(ty, &at) {
                    Some(IdField::Entry(target)) => format!(
                        "expects the id of a {target} (26 characters, like 01KERPZTKVY1JR57WF34VD197M), got {}; `verbund entry list {target}` shows them, and the CLI also takes a slug",
                        short(e.instance())
                    ),
                    Some(IdField::Asset) => format!(
                        "expects the id of an asset (26 characters), got {}; upload the file with `verbund asset upload` (the CLI also takes a local file path here)",
                        short(e.instance())
                    ),
                    None => format!(
                        "{} does not match the required pattern {pattern}",
                        short(e.instance())
                    ),
                };
                errors.push(FieldError::new(at, message));
            }
            ValidationErrorKind::MaxLength { limit } => errors.push(FieldError::new(
                at,
                format!("is longer than {limit} characters"),
            )),
            ValidationErrorKind::MinLength { limit } => errors.push(FieldError::new(
                at,
                format!("is shorter than {limit} characters"),
            )),
            ValidationErrorKind::MinItems { limit } => {
                errors.push(FieldError::new(at, format!("needs at least {limit} items")))
            }
            ValidationErrorKind::MaxItems { limit } => {
                errors.push(FieldError::new(at, format!("allows at most {limit} items")))
            }
            ValidationErrorKind::UniqueItems => {
                errors.push(FieldError::new(at, "has duplicate items"));
            }
            _ => errors.push(FieldError::new(at, short_message(&e.to_string()))),
        }
    }
    // The cross-field rules too, so that an entry with several faults shows all of them.
    check_rules(ty, data, &mut errors);
    errors.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    errors.dedup();
    errors
}

/// What an id-holding field points to.
enum IdField<'a> {
    Entry(&'a str),
    Asset,
}

/// Whether the value at `pointer` (a top-level field, or an item of one) holds the id of an
/// entry or an asset.
fn id_field<'a>(ty: &'a ContentType, pointer: &str) -> Option<IdField<'a>> {
    let mut parts = pointer.trim_start_matches('/').split('/');
    let field = parts.next()?;
    let rest: Vec<&str> = parts.collect();
    // The field itself or one item of a list, not something nested deeper.
    if rest.len() > 1 || rest.first().is_some_and(|i| i.parse::<usize>().is_err()) {
        return None;
    }
    let spec = ty.fields.get(field)?;
    match (&spec.reference, spec.asset) {
        (Some(target), _) => Some(IdField::Entry(target)),
        (None, Some(_)) => Some(IdField::Asset),
        _ => None,
    }
}

fn short_message(m: &str) -> String {
    if m.chars().count() > 300 {
        let cut: String = m.chars().take(297).collect();
        format!("{cut}...")
    } else {
        m.to_string()
    }
}

pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Compares two field values for a rule: instants, dates, numbers or strings.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => {
            if let (Ok(x), Ok(y)) = (
                chrono::DateTime::parse_from_rfc3339(x),
                chrono::DateTime::parse_from_rfc3339(y),
            ) {
                return Some(x.cmp(&y));
            }
            if let (Ok(x), Ok(y)) = (
                chrono::NaiveDate::parse_from_str(x, "%Y-%m-%d"),
                chrono::NaiveDate::parse_from_str(y, "%Y-%m-%d"),
            ) {
                return Some(x.cmp(&y));
            }
            Some(x.cmp(y))
        }
        _ => None,
    }
}

fn check_rules(ty: &ContentType, data: &Value, errors: &mut Vec<FieldError>) {
    for rule in &ty.options.rules {
        let (Some(later), Some(earlier)) = (data.get(&rule.field), data.get(&rule.after)) else {
            continue;
        };
        // A value that is wrong already (not a time) cannot be compared.
        let faulty = |f: &str| {
            let p = format!("/{}", escape_pointer_token(f));
            errors.iter().any(|e| e.pointer == p)
        };
        if faulty(&rule.field) || faulty(&rule.after) {
            continue;
        }
        if compare(later, earlier) != Some(Ordering::Greater) {
            errors.push(FieldError::new(
                format!("/{}", escape_pointer_token(&rule.field)),
                format!(
                    "must be after {} ({}), got {}",
                    rule.after,
                    short(earlier),
                    short(later)
                ),
            ));
        }
    }
}
