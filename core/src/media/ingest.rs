//! Taking a file in: its real type from its first bytes (never from its name or the client's
//! `Content-Type`), bounds on bytes and pixels checked from the header **before** anything is
//! decoded, a refusal of files that are also something else (polyglots), then the sanitised
//! original: EXIF orientation applied, and EXIF, XMP, IPTC, GPS, comments and embedded
//! thumbnails removed, the colour profile kept.

use std::io::Cursor;

use bytes::Bytes;
use img_parts::ImageEXIF;

/// What a field can hold: an image, or any allowed file (PDFs).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum AssetKind {
    Image,
    File,
}

impl AssetKind {
    pub fn name(self) -> &'static str {
        match self {
            AssetKind::Image => "image",
            AssetKind::File => "file",
        }
    }
}

/// The formats Verbund takes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Gif,
    WebP,
    Avif,
    Pdf,
    Svg,
}

impl Format {
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Gif => "image/gif",
            Format::WebP => "image/webp",
            Format::Avif => "image/avif",
            Format::Pdf => "application/pdf",
            Format::Svg => "image/svg+xml",
        }
    }

    pub fn from_media_type(t: &str) -> Option<Format> {
        [
            Format::Jpeg,
            Format::Png,
            Format::Gif,
            Format::WebP,
            Format::Avif,
            Format::Pdf,
        ]
        .into_iter()
        .find(|f| f.media_type() == t)
    }
}

/// Bounds of what is taken in.
#[derive(Debug, Clone, Copy)]
pub struct IngestLimits {
    /// Bytes of an upload.
    pub max_bytes: usize,
    /// Pixels of an image (width × height), checked from its header before decoding.
    pub max_pixels: u64,
    /// The longer side of an image, in pixels.
    pub max_side: u32,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_bytes: 40 * 1024 * 1024,
            max_pixels: 50_000_000,
            max_side: 16_384,
        }
    }
}

/// Why a file was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(
        "the file has {bytes} bytes; at most {max} are allowed (scale the image down or compress the PDF)"
    )]
    TooLarge { bytes: usize, max: usize },
    #[error(
        "the image is {width}×{height} pixels ({} megapixels); at most {} megapixels and {max_side} pixels a side are allowed: scale it down before uploading",
        (*width as u64 * *height as u64) / 1_000_000, max_pixels / 1_000_000
    )]
    TooManyPixels {
        width: u32,
        height: u32,
        max_pixels: u64,
        max_side: u32,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Polyglot(String),
    #[error("the file is damaged or not what its header says: {0}")]
    Invalid(String),
}

/// A sanitised original.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub bytes: Bytes,
    pub format: Format,
    pub kind: AssetKind,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// What was removed or changed, for the record (e.g. "EXIF", "orientation 6 applied").
    pub removed: Vec<String>,
}

/// The real type of a file from its first bytes.
pub fn sniff(b: &[u8]) -> Option<Format> {
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Format::Jpeg);
    }
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(Format::Png);
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Some(Format::Gif);
    }
    if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        return Some(Format::WebP);
    }
    if b.len() >= 12 && &b[4..8] == b"ftyp" && (&b[8..12] == b"avif" || &b[8..12] == b"avis") {
        return Some(Format::Avif);
    }
    if b.starts_with(b"%PDF-") {
        return Some(Format::Pdf);
    }
    let head = String::from_utf8_lossy(&b[..b.len().min(512)]).to_ascii_lowercase();
    let head = head.trim_start_matches('\u{feff}').trim_start();
    if head.starts_with("<svg") || (head.starts_with("<?xml") && head.contains("<svg")) {
        return Some(Format::Svg);
    }
    None
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Markup and script that a browser or reader would act on, inside an image.
const ACTIVE_MARKERS: [&[u8]; 7] = [
    b"<script",
    b"<html",
    b"<?php",
    b"<svg",
    b"<iframe",
    b"<!doctype",
    b"javascript:",
];

fn refuse_polyglot(format: Format, b: &[u8]) -> Result<(), IngestError> {
    let name = format.media_type();
    if format != Format::Pdf && contains_ci(&b[..b.len().min(1024)], b"%PDF-") {
        return Err(IngestError::Polyglot(format!(
            "the file is a {name} and also a PDF (a polyglot); upload each file on its own"
        )));
    }
    if format == Format::Pdf {
        if contains_ci(&b[..b.len().min(1024)], b"<html") || contains_ci(b, b"<script") {
            return Err(IngestError::Polyglot(
                "the PDF also holds HTML or script (a polyglot); export it again from its source program".into(),
            ));
        }
        for active in [
            &b"/JavaScript"[..],
            b"/JS ",
            b"/JS(",
            b"/Launch",
            b"/EmbeddedFile",
        ] {
            if b.windows(active.len()).any(|w| w == active) {
                return Err(IngestError::Unsupported(format!(
                    "the PDF holds {} (scripts, launch actions or attached files are not accepted); export it again as a plain PDF (e.g. PDF/A)",
                    String::from_utf8_lossy(active).trim()
                )));
            }
        }
        return Ok(());
    }
    for m in ACTIVE_MARKERS {
        if contains_ci(b, m) {
            return Err(IngestError::Polyglot(format!(
                "the {name} also holds {:?} markup or script (a polyglot); save the image again in an image program",
                String::from_utf8_lossy(m)
            )));
        }
    }
    if b.windows(4).any(|w| w == b"PK\x03\x04") && b.windows(4).any(|w| w == b"PK\x05\x06") {
        return Err(IngestError::Polyglot(format!(
            "the {name} also holds a ZIP archive (a polyglot); upload the image on its own"
        )));
    }
    Ok(())
}

/// Width and height from the header, without decoding pixels.
fn header_dimensions(format: Format, b: &[u8]) -> Result<(u32, u32), IngestError> {
    let bad = |e: String| IngestError::Invalid(e);
    match format {
        Format::Jpeg => {
            let mut d = jpeg_decoder::Decoder::new(Cursor::new(b));
            d.read_info().map_err(|e| bad(e.to_string()))?;
            let info = d.info().ok_or_else(|| bad("no frame header".into()))?;
            Ok((info.width as u32, info.height as u32))
        }
        _ => {
            let r = image::ImageReader::with_format(
                Cursor::new(b),
                match format {
                    Format::Png => image::ImageFormat::Png,
                    Format::Gif => image::ImageFormat::Gif,
                    _ => image::ImageFormat::WebP,
                },
            );
            r.into_dimensions().map_err(|e| bad(e.to_string()))
        }
    }
}

/// Takes a file in: checks, then sanitises it.
pub fn ingest(input: &[u8], limits: &IngestLimits) -> Result<Ingested, IngestError> {
    if input.len() > limits.max_bytes {
        return Err(IngestError::TooLarge {
            bytes: input.len(),
            max: limits.max_bytes,
        });
    }
    if input.is_empty() {
        return Err(IngestError::Invalid("the file is empty".into()));
    }
    let Some(format) = sniff(input) else {
        return Err(IngestError::Unsupported(
            "this is not a file type Verbund takes: upload JPEG, PNG, GIF or WebP images, or PDF documents".into(),
        ));
    };
    match format {
        Format::Svg => {
            return Err(IngestError::Unsupported(
                "SVG files can carry scripts and are not accepted; upload the logo as PNG (e.g. `rsvg-convert -w 1200 logo.svg > logo.png`) or WebP".into(),
            ));
        }
        Format::Avif => {
            return Err(IngestError::Unsupported(
                "AVIF originals are not accepted yet (Verbund delivers AVIF renditions, but cannot read AVIF); upload the image as JPEG, PNG or WebP".into(),
            ));
        }
        _ => {}
    }
    refuse_polyglot(format, input)?;
    if format == Format::Pdf {
        return ingest_pdf(input);
    }
    let (width, height) = header_dimensions(format, input)?;
    if width == 0 || height == 0 {
        return Err(IngestError::Invalid("the image has no pixels".into()));
    }
    if width as u64 * height as u64 > limits.max_pixels
        || width > limits.max_side
        || height > limits.max_side
    {
        return Err(IngestError::TooManyPixels {
            width,
            height,
            max_pixels: limits.max_pixels,
            max_side: limits.max_side,
        });
    }
    let mut removed = Vec::new();
    let (bytes, orientation) = match format {
        Format::Jpeg => strip_jpeg(input, &mut removed)?,
        Format::Png => strip_png(input, &mut removed)?,
        Format::WebP => strip_webp(input, &mut removed)?,
        Format::Gif => (strip_gif(input, &mut removed)?, 1),
        _ => unreachable_format(format)?,
    };
    // Every pixel is decoded once, under the same bounds, so that a damaged file is refused
    // now and not when its first rendition is asked for.
    let (bytes, width, height) = if (2..=8).contains(&orientation) {
        let (b, w, h) = reorient(&bytes, format, orientation, limits)?;
        removed.push(format!("orientation {orientation} applied"));
        (b, w, h)
    } else {
        verify_decodes(&bytes, format, limits)?;
        (bytes, width, height)
    };
    Ok(Ingested {
        bytes,
        format,
        kind: AssetKind::Image,
        width: Some(width),
        height: Some(height),
        removed,
    })
}

fn unreachable_format(format: Format) -> Result<(Bytes, u16), IngestError> {
    Err(IngestError::Unsupported(format!(
        "{} is not accepted",
        format.media_type()
    )))
}

fn ingest_pdf(input: &[u8]) -> Result<Ingested, IngestError> {
    let tail = &input[input.len().saturating_sub(1024)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(IngestError::Invalid(
            "the PDF has no end marker (%%EOF): it is truncated; upload it again".into(),
        ));
    }
    Ok(Ingested {
        bytes: Bytes::copy_from_slice(input),
        format: Format::Pdf,
        kind: AssetKind::File,
        width: None,
        height: None,
        removed: Vec::new(),
    })
}

/// The EXIF orientation (1–8) in TIFF data, 1 if there is none.
fn orientation_of(tiff: &[u8]) -> u16 {
    let tiff = tiff.strip_prefix(b"Exif\0\0").unwrap_or(tiff);
    let Ok(exif) = exif::Reader::new().read_raw(tiff.to_vec()) else {
        return 1;
    };
    exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .map_or(1, |v| v as u16)
}

fn trailing(kind: &str, parsed: usize, total: usize, removed: &mut Vec<String>) {
    if parsed < total {
        removed.push(format!(
            "{} bytes after the end of the {kind}",
            total - parsed
        ));
    }
}

/// JPEG: keeps JFIF (APP0), the ICC profile (APP2 `ICC_PROFILE`) and Adobe's colour transform
/// (APP14); drops every other application segment (EXIF with GPS and thumbnails, XMP, IPTC,
/// MPF and maker notes) and comments.
fn strip_jpeg(input: &[u8], removed: &mut Vec<String>) -> Result<(Bytes, u16), IngestError> {
    let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(Bytes::copy_from_slice(input))
        .map_err(|e| IngestError::Invalid(e.to_string()))?;
    trailing("JPEG", jpeg.len(), input.len(), removed);
    let orientation = jpeg.exif().map_or(1, |e| orientation_of(&e));
    let before = jpeg.segments().len();
    jpeg.segments_mut().retain(|s| {
        let c = s.contents();
        match s.marker() {
            0xE0 => c.starts_with(b"JFIF\0"),
            0xE2 => c.starts_with(b"ICC_PROFILE\0"),
            0xEE => c.starts_with(b"Adobe"),
            0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
            _ => true,
        }
    });
    if jpeg.segments().len() < before {
        removed.push(format!(
            "{} metadata segments (EXIF, XMP, IPTC, comments)",
            before - jpeg.segments().len()
        ));
    }
    Ok((jpeg.encoder().bytes(), orientation))
}

/// PNG: keeps the image and colour chunks, drops text, EXIF, time and private chunks.
fn strip_png(input: &[u8], removed: &mut Vec<String>) -> Result<(Bytes, u16), IngestError> {
    let mut png = img_parts::png::Png::from_bytes(Bytes::copy_from_slice(input))
        .map_err(|e| IngestError::Invalid(e.to_string()))?;
    trailing("PNG", png.len(), input.len(), removed);
    if png.chunks().last().map(|c| c.kind()) != Some(*b"IEND") {
        return Err(IngestError::Invalid(
            "the PNG ends before its IEND chunk".into(),
        ));
    }
    let orientation = png.exif().map_or(1, |e| orientation_of(&e));
    let keep: [&[u8; 4]; 14] = [
        b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"sBIT",
        b"pHYs", b"acTL", b"fcTL", b"fdAT",
    ];
    let before = png.chunks().len();
    png.chunks_mut().retain(|c| keep.contains(&&c.kind()));
    if png.chunks().len() < before {
        removed.push(format!(
            "{} metadata chunks (text, EXIF, XMP)",
            before - png.chunks().len()
        ));
    }
    Ok((png.encoder().bytes(), orientation))
}

/// WebP: drops the EXIF and XMP chunks (and their flags), keeps ICCP and animation.
fn strip_webp(input: &[u8], removed: &mut Vec<String>) -> Result<(Bytes, u16), IngestError> {
    let mut webp = img_parts::webp::WebP::from_bytes(Bytes::copy_from_slice(input))
        .map_err(|e| IngestError::Invalid(e.to_string()))?;
    trailing("WebP", webp.len() as usize + 8, input.len(), removed);
    let orientation = webp.exif().map_or(1, |e| orientation_of(&e));
    if webp.exif().is_some() {
        removed.push("EXIF".into());
    }
    webp.set_exif(None);
    if webp.has_chunk(*b"XMP ") {
        webp.remove_chunks_by_id(*b"XMP ");
        removed.push("XMP".into());
        for chunk in webp.chunks_mut() {
            if chunk.id() == *b"VP8X"
                && let img_parts::riff::RiffContent::Data(data) = chunk.content_mut()
                && !data.is_empty()
            {
                let mut d = data.to_vec();
                d[0] &= !0x04;
                *data = Bytes::from(d);
            }
        }
    }
    Ok((webp.encoder().bytes(), orientation))
}

/// GIF: walks the blocks; drops comments, plain-text blocks and application blocks other than
/// the looping extension (XMP hides there); refuses anything after the trailer.
fn strip_gif(b: &[u8], removed: &mut Vec<String>) -> Result<Bytes, IngestError> {
    let bad = || IngestError::Invalid("the GIF's block structure is broken".into());
    let mut out = Vec::with_capacity(b.len());
    let mut i = 13;
    if b.len() < 13 {
        return Err(bad());
    }
    let flags = b[10];
    if flags & 0x80 != 0 {
        i += 3 * (1usize << ((flags & 0x07) + 1));
    }
    out.extend_from_slice(b.get(..i).ok_or_else(bad)?);
    // The end of a run of sub-blocks starting at `j`.
    let sub_blocks = |mut j: usize| -> Result<usize, IngestError> {
        loop {
            let n = *b.get(j).ok_or_else(bad)? as usize;
            j += 1 + n;
            if n == 0 {
                return Ok(j);
            }
        }
    };
    let mut dropped = 0;
    loop {
        match *b.get(i).ok_or_else(bad)? {
            0x3B => {
                out.push(0x3B);
                trailing("GIF", i + 1, b.len(), removed);
                break;
            }
            0x21 => {
                let label = *b.get(i + 1).ok_or_else(bad)?;
                let end = sub_blocks(i + 2)?;
                let keep = match label {
                    0xF9 => true,
                    0xFF => {
                        let id = b.get(i + 3..i + 14).unwrap_or_default();
                        id == b"NETSCAPE2.0" || id == b"ANIMEXTS1.0"
                    }
                    _ => false,
                };
                if keep {
                    out.extend_from_slice(b.get(i..end).ok_or_else(bad)?);
                } else {
                    dropped += 1;
                }
                i = end;
            }
            0x2C => {
                let desc = b.get(i..i + 10).ok_or_else(bad)?;
                let mut j = i + 10;
                if desc[9] & 0x80 != 0 {
                    j += 3 * (1usize << ((desc[9] & 0x07) + 1));
                }
                j += 1; // LZW minimum code size
                let end = sub_blocks(j)?;
                out.extend_from_slice(b.get(i..end).ok_or_else(bad)?);
                i = end;
            }
            _ => return Err(bad()),
        }
    }
    if dropped > 0 {
        removed.push(format!("{dropped} comment or application blocks"));
    }
    Ok(Bytes::from(out))
}

fn decode_limits(limits: &IngestLimits) -> image::Limits {
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    l.max_alloc = Some(limits.max_pixels * 4 + 64 * 1024 * 1024);
    l
}

fn image_format(format: Format) -> image::ImageFormat {
    match format {
        Format::Jpeg => image::ImageFormat::Jpeg,
        Format::Png => image::ImageFormat::Png,
        Format::Gif => image::ImageFormat::Gif,
        _ => image::ImageFormat::WebP,
    }
}

/// Decodes the whole image (JPEG at 1/8 scale: every coefficient is still read).
fn verify_decodes(b: &[u8], format: Format, limits: &IngestLimits) -> Result<(), IngestError> {
    let bad = |e: String| IngestError::Invalid(e);
    if format == Format::Jpeg {
        let mut d = jpeg_decoder::Decoder::new(Cursor::new(b));
        d.set_max_decoding_buffer_size(limits.max_pixels as usize * 4);
        d.read_info().map_err(|e| bad(e.to_string()))?;
        d.scale(1, 1).map_err(|e| bad(e.to_string()))?;
        d.decode().map_err(|e| bad(e.to_string()))?;
        return Ok(());
    }
    let mut r = image::ImageReader::with_format(Cursor::new(b), image_format(format));
    r.limits(decode_limits(limits));
    r.decode().map_err(|e| bad(e.to_string()))?;
    Ok(())
}

/// Applies an EXIF orientation to the pixels and encodes the image again in its format, with
/// its colour profile.
fn reorient(
    b: &[u8],
    format: Format,
    orientation: u16,
    limits: &IngestLimits,
) -> Result<(Bytes, u32, u32), IngestError> {
    let bad = |e: String| IngestError::Invalid(e);
    let mut r = image::ImageReader::with_format(Cursor::new(b), image_format(format));
    r.limits(decode_limits(limits));
    let mut decoder = r.into_decoder().map_err(|e| bad(e.to_string()))?;
    let icc = image::ImageDecoder::icc_profile(&mut decoder)
        .ok()
        .flatten();
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|e| bad(e.to_string()))?;
    if let Some(o) = image::metadata::Orientation::from_exif(orientation as u8) {
        img.apply_orientation(o);
    }
    let (w, h) = (img.width(), img.height());
    let out = match format {
        Format::Jpeg => super::render::encode_jpeg(&img.to_rgb8(), 92, icc.as_deref())
            .map_err(|e| bad(e.to_string()))?,
        Format::Png => {
            super::render::encode_png(&img, icc.as_deref()).map_err(|e| bad(e.to_string()))?
        }
        _ => super::render::encode_webp(&img, 90.0, icc.as_deref())
            .map_err(|e| bad(e.to_string()))?,
    };
    Ok((Bytes::from(out), w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content_not_name() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some(Format::Jpeg));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some(Format::Pdf));
        assert_eq!(sniff(b"  <svg xmlns='x'>"), Some(Format::Svg));
        assert_eq!(sniff(b"<html>"), None);
    }

    #[test]
    fn refuses_an_image_that_is_also_html() {
        let mut png = Vec::new();
        image::RgbImage::new(4, 4)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png.extend_from_slice(b"<script>alert(1)</script>");
        let err = ingest(&png, &IngestLimits::default()).unwrap_err();
        assert!(matches!(err, IngestError::Polyglot(_)), "{err}");
    }
}
