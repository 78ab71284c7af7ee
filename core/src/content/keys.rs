//! Key layouts of the content trees and the order-preserving encoding of index values.
//!
//! Index keys are `c{type}\0{field}\0{value}{id}` for the current version of every entry and
//! `p{type}\0{locale}\0{field}\0{value}{id}` for the published version. Values are encoded so that bytewise order
//! is value order (numbers by value, strings by UTF-8 bytes, instants normalised to UTC), and
//! the fixed-width id (a 26-character ULID) ends the key.

use serde_json::Value;

use crate::schema::FieldKind;

/// Length of an entry id (a ULID in Crockford base32).
pub const ID_LEN: usize = 26;

pub const SCOPE_CURRENT: u8 = b'c';
pub const SCOPE_PUBLISHED: u8 = b'p';
pub const SCOPE_COMPOSITE: u8 = b'q';
pub const SCOPE_VALUES: u8 = b'v';

/// `{type}\0{id}` in `entries` and `published`.
pub fn entry(ty: &str, id: &str) -> Vec<u8> {
    crate::store::key(&[ty.as_bytes(), id.as_bytes()])
}

/// `{type}\0{id}\0{version:be}` in `revisions`.
pub fn revision(ty: &str, id: &str, version: u64) -> Vec<u8> {
    let mut k = revisions_prefix(ty, id);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

pub fn revisions_prefix(ty: &str, id: &str) -> Vec<u8> {
    let mut k = entry(ty, id);
    k.push(0);
    k
}

/// `{scope}{type}\0{locale}\0{slug}` in `slugs`.
pub fn slug(scope: u8, ty: &str, locale: &str, slug: &str) -> Vec<u8> {
    let mut k = vec![scope];
    k.extend_from_slice(&crate::store::key(&[
        ty.as_bytes(),
        locale.as_bytes(),
        slug.as_bytes(),
    ]));
    k
}

/// `{target type}\0{target id}`: the count of references to an entry, in `refs`.
pub fn ref_count(target_ty: &str, target_id: &str) -> Vec<u8> {
    entry(target_ty, target_id)
}

/// `{target type}\0{target id}\0`: the prefix of all references to an entry.
pub fn refs_to(target_ty: &str, target_id: &str) -> Vec<u8> {
    let mut k = entry(target_ty, target_id);
    k.push(0);
    k
}

/// `{target type}\0{target id}\0{source type}\0{source id}` → field names.
pub fn reference(target_ty: &str, target_id: &str, source_ty: &str, source_id: &str) -> Vec<u8> {
    let mut k = refs_to(target_ty, target_id);
    k.extend_from_slice(&entry(source_ty, source_id));
    k
}

/// `{scope}{type}\0{field}\0`: the prefix of one field's index.
pub fn index_prefix(scope: u8, ty: &str, field: &str) -> Vec<u8> {
    scoped(scope, &[ty.as_bytes(), field.as_bytes()])
}

/// `{scope}` followed by `\0`-joined parts and a final `\0`.
fn scoped(scope: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = vec![scope];
    k.extend_from_slice(&crate::store::key(parts));
    k.push(0);
    k
}

/// `p{type}\0{locale}\0{field}\0`: the prefix of one field's index in the published view.
pub fn public_index_prefix(ty: &str, locale: &str, field: &str) -> Vec<u8> {
    scoped(
        SCOPE_PUBLISHED,
        &[ty.as_bytes(), locale.as_bytes(), field.as_bytes()],
    )
}

/// `q{type}\0{locale}\0{filter field}\0{value}{sort field}\0`: the prefix of the entries with
/// one filter value, in the order of one sort field.
pub fn composite_prefix(
    ty: &str,
    locale: &str,
    field: &str,
    encoded: &[u8],
    sort: &str,
) -> Vec<u8> {
    let mut k = scoped(
        SCOPE_COMPOSITE,
        &[ty.as_bytes(), locale.as_bytes(), field.as_bytes()],
    );
    k.extend_from_slice(encoded);
    k.extend_from_slice(sort.as_bytes());
    k.push(0);
    k
}

/// `v{type}\0{id}`: the encoded index values of a published entry.
pub fn values_key(ty: &str, id: &str) -> Vec<u8> {
    let mut k = vec![SCOPE_VALUES];
    k.extend_from_slice(&entry(ty, id));
    k
}

/// `count\0{scope}\0{type}` in `meta`: the number of entries (current or published) of a type.
pub fn count_key(scope: u8, ty: &str) -> Vec<u8> {
    let mut k = b"count\0".to_vec();
    k.push(scope);
    k.push(0);
    k.extend_from_slice(ty.as_bytes());
    k
}

/// `count\0l\0{type}\0{locale}` in `meta`: published entries of a type in one locale.
pub fn locale_count_key(ty: &str, locale: &str) -> Vec<u8> {
    let mut k = b"count\0l\0".to_vec();
    k.extend_from_slice(&entry(ty, locale));
    k
}

/// `count\0t\0{type}\0{locale a}\0{locale b}` (a < b) in `meta`: translation groups with a
/// published entry in both locales (what a list with a fallback locale shows once).
pub fn pair_count_key(ty: &str, a: &str, b: &str) -> Vec<u8> {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    let mut k = b"count\0t\0".to_vec();
    k.extend_from_slice(&crate::store::key(&[
        ty.as_bytes(),
        a.as_bytes(),
        b.as_bytes(),
    ]));
    k
}

/// `count\0q\0{type}\0{locale}\0{field}\0{value}` in `meta`: published entries with a value.
pub fn value_count_key(ty: &str, locale: &str, field: &str, encoded: &[u8]) -> Vec<u8> {
    let mut k = b"count\0q\0".to_vec();
    k.extend_from_slice(&crate::store::key(&[
        ty.as_bytes(),
        locale.as_bytes(),
        field.as_bytes(),
    ]));
    k.push(0);
    k.extend_from_slice(encoded);
    k
}

/// The id at the end of an index key.
pub fn id_of_index_key(key: &[u8]) -> Option<&str> {
    key.len()
        .checked_sub(ID_LEN)
        .and_then(|start| std::str::from_utf8(&key[start..]).ok())
}

pub const TAG_NULL: u8 = 0x01;
const TAG_FALSE: u8 = 0x02;
const TAG_TRUE: u8 = 0x03;
const TAG_NUMBER: u8 = 0x04;
const TAG_STRING: u8 = 0x05;

/// Appends the order-preserving encoding of a scalar. Returns false for values that are not
/// indexable (objects, arrays).
pub fn encode_scalar(kind: FieldKind, v: &Value, out: &mut Vec<u8>) -> bool {
    match v {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Number(n) => {
            out.push(TAG_NUMBER);
            out.extend_from_slice(&encode_f64(n.as_f64().unwrap_or(0.0)));
        }
        Value::String(s) => {
            out.push(TAG_STRING);
            match kind {
                FieldKind::DateTime => match normalise_instant(s) {
                    Some(utc) => escape_into(utc.as_bytes(), out),
                    None => escape_into(s.as_bytes(), out),
                },
                _ => escape_into(s.as_bytes(), out),
            }
        }
        Value::Array(_) | Value::Object(_) => return false,
    }
    true
}

/// An RFC 3339 instant in UTC with microseconds, so that instants sort as strings.
pub fn normalise_instant(s: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| {
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    })
}

/// Strings may contain `\0`: escape it as `\0\xff` and end with `\0\x01`, which keeps order
/// and makes every encoding prefix-free.
fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 1]);
}

fn encode_f64(x: f64) -> [u8; 8] {
    let bits = x.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

/// The index keys of one field value under `prefix` (see [`index_prefix`]): one for a scalar,
/// one per item for an array.
pub fn index_keys_for(
    prefix: &[u8],
    kind: FieldKind,
    item_kind: Option<FieldKind>,
    value: &Value,
    id: &str,
    out: &mut Vec<Vec<u8>>,
) {
    let mut push = |kind: FieldKind, v: &Value| {
        let mut k = prefix.to_vec();
        if encode_scalar(kind, v, &mut k) {
            k.extend_from_slice(id.as_bytes());
            out.push(k);
        }
    };
    match value {
        Value::Array(items) => {
            let kind = item_kind.unwrap_or(FieldKind::String);
            for item in items {
                push(kind, item);
            }
        }
        v => push(kind, v),
    }
}

/// `{type}\0{id}\0` in `history`: the prefix of an entry's history.
pub fn history_prefix(ty: &str, id: &str) -> Vec<u8> {
    let mut k = entry(ty, id);
    k.push(0);
    k
}

/// `{type}\0{id}\0{ulid}` in `history` (ULIDs sort by time).
pub fn history(ty: &str, id: &str, ulid: &str) -> Vec<u8> {
    let mut k = history_prefix(ty, id);
    k.extend_from_slice(ulid.as_bytes());
    k
}

/// The prefix of the schedule index in `meta`.
pub const SCHEDULE_PREFIX: &[u8] = b"sched\0";

/// `sched\0{at ms:be}{type}\0{id}` in `meta`: a transition due at `at_ms`.
pub fn schedule(at_ms: i64, ty: &str, id: &str) -> Vec<u8> {
    let mut k = SCHEDULE_PREFIX.to_vec();
    k.extend_from_slice(&(at_ms.max(0) as u64).to_be_bytes());
    k.extend_from_slice(&entry(ty, id));
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(kind: FieldKind, v: Value) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(encode_scalar(kind, &v, &mut out));
        out
    }

    #[test]
    fn numbers_sort_by_value() {
        let xs = [-1e9, -2.5, -0.0, 0.0, 1.0, 3.25, 1e12];
        for w in xs.windows(2) {
            assert!(enc(FieldKind::Number, json!(w[0])) <= enc(FieldKind::Number, json!(w[1])));
        }
    }

    #[test]
    fn instants_sort_in_utc_whatever_their_offset() {
        let a = enc(FieldKind::DateTime, json!("2026-03-01T10:00:00+02:00")); // 08:00Z
        let b = enc(FieldKind::DateTime, json!("2026-03-01T09:00:00Z"));
        assert!(a < b);
    }

    #[test]
    fn strings_are_prefix_free_and_ordered() {
        let a = enc(FieldKind::String, json!("ab"));
        let b = enc(FieldKind::String, json!("ab\u{0}c"));
        let c = enc(FieldKind::String, json!("abc"));
        assert!(a < b && b < c);
        assert!(!b.starts_with(&a));
    }
}
