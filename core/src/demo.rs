//! Demo content for `verbund serve --demo`: a fictional German IT cluster's members, stories,
//! events, cooperation examples and a few newsletter subscribers, written in German.
//!
//! The files in `core/demo/` are NDJSON in the import format and are built into the binary.
//! With media on, the demo also makes its pictures (by code, no downloads): a logo per member,
//! a lead image per story and a photo per event, with German (and for stories English) alt
//! texts, and attaches them to the entries before they are imported.

use std::collections::HashMap;

use crate::content::{ContentError, ContentService, ImportLine};
use crate::media::Media;

/// The demo files, in an order where every reference points backwards.
pub const FILES: &[(&str, &str)] = &[
    ("member", include_str!("../demo/member.ndjson")),
    ("story", include_str!("../demo/story.ndjson")),
    ("event", include_str!("../demo/event.ndjson")),
    ("cooperation", include_str!("../demo/cooperation.ndjson")),
    ("subscriber", include_str!("../demo/subscriber.ndjson")),
];

/// What loading the demo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoOutcome {
    /// Entries were loaded, per type.
    Loaded(Vec<(String, usize)>),
    /// The data dir already holds entries; nothing was changed.
    AlreadyHasContent,
}

/// Loads the demo content into an empty data dir. A data dir that already holds entries is
/// left alone, so `--demo` is safe to pass on every start.
pub async fn load(
    content: &ContentService,
    media: Option<&Media>,
) -> Result<DemoOutcome, ContentError> {
    for ty in content.schemas().names() {
        if content.count(ty, false)? > 0 {
            return Ok(DemoOutcome::AlreadyHasContent);
        }
    }
    let pictures = match media {
        Some(m) => pictures::make(content, m).await?,
        None => HashMap::new(),
    };
    let mut loaded = Vec::new();
    for (ty, text) in FILES {
        let Some(ct) = content.schemas().get(ty) else {
            continue;
        };
        let lines = text.lines().enumerate().map(|(i, l)| ImportLine {
            line: i + 1,
            text: pictures::attach(ct, l, &pictures),
        });
        let report = content.import(ty, lines, 1000, |_| {})?;
        if let Some(first) = report.errors.first() {
            return Err(ContentError::Corrupt(format!(
                "demo file {ty}.ndjson line {}: {}",
                first.line,
                first
                    .errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
        loaded.push(((*ty).to_string(), report.imported));
    }
    Ok(DemoOutcome::Loaded(loaded))
}

/// The demo's pictures, drawn by code.
mod pictures {
    use std::collections::HashMap;
    use std::io::Cursor;

    use serde_json::Value;

    use crate::content::{ContentError, ContentService};
    use crate::media::{Asset, Consent, Media, ingest};
    use crate::schema::ContentType;

    /// `(type, slug)` → the asset ids for that entry's asset field.
    pub type Pictures = HashMap<(String, String), Vec<String>>;

    fn hash(s: &str) -> u64 {
        xxhash_rust::xxh3::xxh3_64(s.as_bytes())
    }

    /// A colour from a hue (0–360) at fixed saturation and lightness.
    fn hue(h: f64, l: f64) -> [u8; 3] {
        let s = 0.55;
        let c = (1.0 - (2.0 * l - 1.0_f64).abs()) * s;
        let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
        let m = l - c / 2.0;
        let (r, g, b) = match (h / 60.0) as u32 {
            0 => (c, x, 0.0),
            1 => (x, c, 0.0),
            2 => (0.0, c, x),
            3 => (0.0, x, c),
            4 => (x, 0.0, c),
            _ => (c, 0.0, x),
        };
        [
            ((r + m) * 255.0) as u8,
            ((g + m) * 255.0) as u8,
            ((b + m) * 255.0) as u8,
        ]
    }

    /// A logo: a mark (circle, diamond or square) and three bars of a "word mark", on a
    /// transparent background. PNG, 480×240.
    fn logo(name: &str) -> Vec<u8> {
        let h = hash(name);
        let colour = hue((h % 360) as f64, 0.38);
        let accent = hue(((h >> 9) % 360) as f64, 0.55);
        let shape = (h >> 20) % 3;
        let (w, ht) = (480u32, 240u32);
        let img = image::RgbaImage::from_fn(w, ht, |x, y| {
            let (fx, fy) = (x as f64, y as f64);
            let (dx, dy) = (fx - 120.0, fy - 120.0);
            let inside = match shape {
                0 => (dx * dx + dy * dy).sqrt() < 80.0,
                1 => dx.abs() + dy.abs() < 95.0,
                _ => dx.abs() < 72.0 && dy.abs() < 72.0,
            };
            let inner = (dx * dx + dy * dy).sqrt() < 34.0;
            let bar =
                |top: f64, len: f64| fx > 225.0 && fx < 225.0 + len && fy > top && fy < top + 26.0;
            let len = |k: u64| 120.0 + ((h >> k) % 110) as f64;
            if inside && !inner {
                image::Rgba([colour[0], colour[1], colour[2], 255])
            } else if inner {
                image::Rgba([accent[0], accent[1], accent[2], 255])
            } else if bar(62.0, len(30)) || bar(107.0, len(38)) {
                image::Rgba([colour[0], colour[1], colour[2], 255])
            } else if bar(152.0, len(46) * 0.7) {
                image::Rgba([accent[0], accent[1], accent[2], 255])
            } else {
                image::Rgba([0, 0, 0, 0])
            }
        });
        let mut out = Vec::new();
        let _ = img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png);
        out
    }

    /// A photo-like picture: a sky, hills, soft lights and grain. JPEG, 1200×800.
    fn photo(seed: &str) -> Vec<u8> {
        let h = hash(seed);
        let sky = hue(((h % 80) + 180) as f64, 0.72);
        let land = hue(((h >> 8) % 90 + 60) as f64, 0.35);
        let light = hue(((h >> 16) % 60 + 20) as f64, 0.7);
        let (w, ht) = (1200u32, 800u32);
        let phase = ((h >> 24) % 628) as f64 / 100.0;
        let sun = (
            ((h >> 32) % 800) as f64 + 200.0,
            ((h >> 40) % 200) as f64 + 120.0,
        );
        let img = image::RgbImage::from_fn(w, ht, |x, y| {
            let (fx, fy) = (x as f64, y as f64);
            let horizon = 480.0 + 60.0 * (fx / 170.0 + phase).sin() + 25.0 * (fx / 53.0).sin();
            let grain = ((x.wrapping_mul(73856093) ^ y.wrapping_mul(19349663)) % 13) as f64 - 6.0;
            let mix = |a: [u8; 3], b: [u8; 3], t: f64| {
                let t = t.clamp(0.0, 1.0);
                [0, 1, 2].map(|i| a[i] as f64 * (1.0 - t) + b[i] as f64 * t)
            };
            let mut c = if fy < horizon {
                mix(
                    sky,
                    [250.0, 250.0, 245.0].map(|v| v as u8),
                    fy / horizon * 0.6,
                )
            } else {
                mix(land, [30, 40, 30], (fy - horizon) / 400.0)
            };
            let d = ((fx - sun.0).powi(2) + (fy - sun.1).powi(2)).sqrt();
            let glow = (1.0 - d / 260.0).max(0.0).powi(2);
            for i in 0..3 {
                c[i] = c[i] * (1.0 - glow) + light[i] as f64 * glow + grain;
            }
            image::Rgb(c.map(|v| v.clamp(0.0, 255.0) as u8))
        });
        crate::media::render::encode_jpeg(&img, 88, None).unwrap_or_default()
    }

    async fn store(
        content: &ContentService,
        media: &Media,
        bytes: Vec<u8>,
        filename: String,
        alt: &[(&str, String)],
        credit: &str,
        consent: Option<Consent>,
    ) -> Result<String, ContentError> {
        let ingested = ingest::ingest(&bytes, &media.config.limits)
            .map_err(|e| ContentError::Corrupt(format!("demo picture {filename}: {e}")))?;
        media
            .store_original(&ingested.bytes)
            .await
            .map_err(|e| ContentError::Corrupt(format!("demo picture {filename}: {e}")))?;
        let mut asset = Asset::new(content.new_id(), filename, &ingested, None);
        asset.alt = alt
            .iter()
            .map(|(l, t)| (l.to_string(), t.clone()))
            .collect();
        asset.credit = Some(credit.into());
        asset.license = Some("CC BY 4.0".into());
        asset.consent = consent;
        Ok(content.create_asset(asset, None)?.id)
    }

    fn field<'a>(v: &'a Value, k: &str) -> &'a str {
        v.get(k).and_then(Value::as_str).unwrap_or("")
    }

    /// Makes the pictures of the demo entries.
    pub async fn make(content: &ContentService, media: &Media) -> Result<Pictures, ContentError> {
        let mut out = Pictures::new();
        for (ty, text) in super::FILES {
            for line in text.lines() {
                let v: Value = serde_json::from_str(line).unwrap_or_default();
                let slug = field(&v, "slug").to_string();
                // Translations share their original's picture.
                if v.get("translation_of").is_some() {
                    continue;
                }
                let id = match *ty {
                    "member" => {
                        let name = field(&v, "name");
                        store(
                            content,
                            media,
                            logo(name),
                            format!("{slug}-logo.png"),
                            &[
                                ("de", format!("Logo der {name}")),
                                ("en", format!("Logo of {name}")),
                            ],
                            name,
                            None,
                        )
                        .await?
                    }
                    "story" => {
                        let title = field(&v, "title");
                        store(
                            content,
                            media,
                            photo(&slug),
                            format!("{slug}.jpg"),
                            &[
                                ("de", format!("Stimmungsbild zum Beitrag „{title}“: Hügel unter einem weiten Himmel im Abendlicht")),
                                ("en", "Mood picture: hills under a wide sky in the evening light".into()),
                            ],
                            "Redaktion Cluster IT Mitteldeutschland",
                            None,
                        )
                        .await?
                    }
                    "event" => {
                        let title = field(&v, "title");
                        store(
                            content,
                            media,
                            photo(&format!("event-{slug}")),
                            format!("{slug}-foto.jpg"),
                            &[
                                (
                                    "de",
                                    format!("Veranstaltungsort von „{title}“ am Abend vor Beginn"),
                                ),
                                ("en", "The venue in the evening before the event".into()),
                            ],
                            "Geschäftsstelle Cluster IT Mitteldeutschland",
                            Some(Consent {
                                person:
                                    "Alle abgebildeten Teilnehmenden (Hinweis in der Einladung)"
                                        .into(),
                                email: None,
                                given_at: "2026-09-01".into(),
                                scope: "Website und Newsletter des Clusters".into(),
                            }),
                        )
                        .await?
                    }
                    _ => continue,
                };
                out.insert((ty.to_string(), slug), vec![id]);
            }
        }
        Ok(out)
    }

    /// A demo line with its pictures in the type's asset field.
    pub fn attach(ct: &ContentType, line: &str, pictures: &Pictures) -> String {
        let Ok(mut v) = serde_json::from_str::<Value>(line) else {
            return line.to_string();
        };
        let slug = field(&v, "slug").to_string();
        let Some(ids) = pictures.get(&(ct.name.clone(), slug)) else {
            return line.to_string();
        };
        for (name, spec) in &ct.fields {
            if spec.asset.is_none() {
                continue;
            }
            v[name] = if spec.kind == crate::schema::FieldKind::Array {
                Value::from(ids.clone())
            } else {
                Value::from(ids[0].clone())
            };
            break;
        }
        v.to_string()
    }
}
