//! Renditions: an original cropped (non-destructively: the crop is a record field), fitted
//! around its focal point, resized and encoded. JPEG originals are decoded at the smallest DCT
//! scale that still covers the target (shrink-on-load), everything is resized with
//! `fast_image_resize` (SIMD Lanczos), WebP is encoded by libwebp and AVIF by rav1e.
//! Nothing is ever upscaled: a rendition is at most as sharp as its original.

use std::io::Cursor;

use fast_image_resize as fr;
use image::{DynamicImage, ImageDecoder as _, RgbImage, RgbaImage};

use super::ingest::Format;

/// How a rendition fills its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Exactly `w`×`h` (or that aspect ratio, if the original is smaller), cut around the focal
    /// point.
    Cover,
    /// Within `w`×`h`, keeping the aspect ratio.
    Inside,
}

impl Fit {
    pub fn parse(s: &str) -> Option<Fit> {
        match s {
            "cover" => Some(Fit::Cover),
            "inside" | "contain" => Some(Fit::Inside),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Fit::Cover => "cover",
            Fit::Inside => "inside",
        }
    }
}

/// The encoded format of a rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutFormat {
    WebP,
    Avif,
    Jpeg,
    Png,
}

impl OutFormat {
    pub fn parse(s: &str) -> Option<OutFormat> {
        match s {
            "webp" => Some(OutFormat::WebP),
            "avif" => Some(OutFormat::Avif),
            "jpg" | "jpeg" => Some(OutFormat::Jpeg),
            "png" => Some(OutFormat::Png),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            OutFormat::WebP => "webp",
            OutFormat::Avif => "avif",
            OutFormat::Jpeg => "jpg",
            OutFormat::Png => "png",
        }
    }
    pub fn media_type(self) -> &'static str {
        match self {
            OutFormat::WebP => "image/webp",
            OutFormat::Avif => "image/avif",
            OutFormat::Jpeg => "image/jpeg",
            OutFormat::Png => "image/png",
        }
    }
    pub fn default_quality(self) -> u8 {
        match self {
            OutFormat::WebP => 80,
            OutFormat::Avif => 60,
            OutFormat::Jpeg => 82,
            OutFormat::Png => 100,
        }
    }
}

/// A part of the image as fractions of its width and height (0–1).
#[derive(
    Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Crop {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// The point that must stay in view when a rendition cuts the image, as fractions (0–1).
#[derive(
    Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Focal {
    pub x: f64,
    pub y: f64,
}

/// What to make.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Variant {
    pub w: Option<u32>,
    pub h: Option<u32>,
    pub fit: Fit,
    pub fm: OutFormat,
    pub q: u8,
}

impl Variant {
    /// A stable name of the variant (the rendition's key).
    pub fn key(&self) -> String {
        format!(
            "w{}-h{}-{}-q{}.{}",
            self.w.unwrap_or(0),
            self.h.unwrap_or(0),
            self.fit.name(),
            self.q,
            self.fm.name()
        )
    }

    /// The size of the rendition of a `sw`×`sh` image (after the crop), never larger.
    pub fn output_size(&self, sw: u32, sh: u32) -> (u32, u32) {
        let (sw_f, sh_f) = (sw as f64, sh as f64);
        let (w, h) = match (self.w, self.h) {
            (None, None) => return (sw, sh),
            (Some(w), None) => (w as f64, w as f64 * sh_f / sw_f),
            (None, Some(h)) => (h as f64 * sw_f / sh_f, h as f64),
            (Some(w), Some(h)) => match self.fit {
                Fit::Cover => (w as f64, h as f64),
                Fit::Inside => {
                    let s = (w as f64 / sw_f).min(h as f64 / sh_f);
                    (sw_f * s, sh_f * s)
                }
            },
        };
        // Never upscale: shrink the box (keeping its aspect ratio) to what the source has.
        let s = (sw_f / w).min(sh_f / h).min(1.0);
        (
            ((w * s).round() as u32).max(1),
            ((h * s).round() as u32).max(1),
        )
    }
}

/// Why a rendition could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the original could not be decoded: {0}")]
    Decode(String),
    #[error("the rendition could not be encoded: {0}")]
    Encode(String),
}

/// Decoded pixels, RGB or RGBA, with the colour profile of the original.
struct Pixels {
    width: u32,
    height: u32,
    alpha: bool,
    data: Vec<u8>,
    icc: Option<Vec<u8>>,
}

fn decode_jpeg(bytes: &[u8], want: (u32, u32)) -> Result<Pixels, RenderError> {
    let bad = |e: jpeg_decoder::Error| RenderError::Decode(e.to_string());
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    d.read_info().map_err(bad)?;
    let (w, h) = d
        .scale(
            want.0.clamp(1, u16::MAX as u32) as u16,
            want.1.clamp(1, u16::MAX as u32) as u16,
        )
        .map_err(bad)?;
    let icc = d.icc_profile();
    let raw = d.decode().map_err(bad)?;
    let info = d
        .info()
        .ok_or_else(|| RenderError::Decode("no frame".into()))?;
    let data = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => raw,
        jpeg_decoder::PixelFormat::L8 => raw.iter().flat_map(|v| [*v, *v, *v]).collect(),
        jpeg_decoder::PixelFormat::L16 => raw
            .chunks_exact(2)
            .flat_map(|v| [v[0], v[0], v[0]])
            .collect(),
        jpeg_decoder::PixelFormat::CMYK32 => raw
            .chunks_exact(4)
            .flat_map(|p| {
                // Adobe CMYK JPEGs store inverted values.
                let k = p[3] as u32;
                [
                    (p[0] as u32 * k / 255) as u8,
                    (p[1] as u32 * k / 255) as u8,
                    (p[2] as u32 * k / 255) as u8,
                ]
            })
            .collect(),
    };
    Ok(Pixels {
        width: w as u32,
        height: h as u32,
        alpha: false,
        data,
        icc,
    })
}

fn decode_other(bytes: &[u8], format: Format) -> Result<Pixels, RenderError> {
    let f = match format {
        Format::Png => image::ImageFormat::Png,
        Format::Gif => image::ImageFormat::Gif,
        _ => image::ImageFormat::WebP,
    };
    let mut decoder = image::ImageReader::with_format(Cursor::new(bytes), f)
        .into_decoder()
        .map_err(|e| RenderError::Decode(e.to_string()))?;
    let icc = decoder.icc_profile().ok().flatten();
    let img =
        DynamicImage::from_decoder(decoder).map_err(|e| RenderError::Decode(e.to_string()))?;
    let alpha = img.color().has_alpha();
    let (width, height) = (img.width(), img.height());
    let data = if alpha {
        img.into_rgba8().into_raw()
    } else {
        img.into_rgb8().into_raw()
    };
    Ok(Pixels {
        width,
        height,
        alpha,
        data,
        icc,
    })
}

/// Makes a rendition of an original (`width`×`height` as recorded).
pub fn render(
    original: &[u8],
    format: Format,
    (width, height): (u32, u32),
    crop: Option<Crop>,
    focal: Option<Focal>,
    variant: &Variant,
) -> Result<(Vec<u8>, u32, u32), RenderError> {
    let crop = crop.unwrap_or(Crop {
        x: 0.0,
        y: 0.0,
        w: 1.0,
        h: 1.0,
    });
    // The size of the cropped region at full resolution, and what the output needs of it.
    let region = (
        (width as f64 * crop.w).max(1.0),
        (height as f64 * crop.h).max(1.0),
    );
    let (ow, oh) = variant.output_size(region.0.round() as u32, region.1.round() as u32);
    let pixels = if format == Format::Jpeg {
        // Decode at the smallest scale whose cropped region still covers the output.
        let s = (ow as f64 / region.0).max(oh as f64 / region.1).min(1.0);
        decode_jpeg(
            original,
            (
                (width as f64 * s).ceil() as u32,
                (height as f64 * s).ceil() as u32,
            ),
        )?
    } else {
        decode_other(original, format)?
    };
    let (pw, ph) = (pixels.width as f64, pixels.height as f64);
    // The region in decoded pixels, then the part of it with the output's aspect ratio,
    // centred on the focal point as far as the region allows.
    let (rx, ry, rw, rh) = (crop.x * pw, crop.y * ph, crop.w * pw, crop.h * ph);
    let target_aspect = ow as f64 / oh as f64;
    let (cw, ch) = if rw / rh > target_aspect {
        (rh * target_aspect, rh)
    } else {
        (rw, rw / target_aspect)
    };
    let focal = focal.unwrap_or(Focal { x: 0.5, y: 0.5 });
    let fx = focal.x * pw;
    let fy = focal.y * ph;
    let cx = (fx - cw / 2.0).clamp(rx, rx + rw - cw);
    let cy = (fy - ch / 2.0).clamp(ry, ry + rh - ch);

    let pixel_type = if pixels.alpha {
        fr::PixelType::U8x4
    } else {
        fr::PixelType::U8x3
    };
    let src = fr::images::Image::from_vec_u8(pixels.width, pixels.height, pixels.data, pixel_type)
        .map_err(|e| RenderError::Decode(e.to_string()))?;
    let mut dst = fr::images::Image::new(ow, oh, pixel_type);
    let options = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3))
        .crop(cx, cy, cw, ch);
    fr::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| RenderError::Encode(e.to_string()))?;
    let data = dst.into_vec();
    let icc = pixels.icc.as_deref();
    let img = if pixels.alpha {
        DynamicImage::ImageRgba8(
            RgbaImage::from_raw(ow, oh, data)
                .ok_or_else(|| RenderError::Encode("buffer size".into()))?,
        )
    } else {
        DynamicImage::ImageRgb8(
            RgbImage::from_raw(ow, oh, data)
                .ok_or_else(|| RenderError::Encode("buffer size".into()))?,
        )
    };
    let q = variant.q;
    let out = match variant.fm {
        OutFormat::WebP => encode_webp(&img, q as f32, icc),
        OutFormat::Avif => encode_avif(&img, q),
        OutFormat::Jpeg => {
            let rgb = match &img {
                DynamicImage::ImageRgb8(i) => i.clone(),
                other => flatten_on_white(&other.to_rgba8()),
            };
            encode_jpeg(&rgb, q, icc)
        }
        OutFormat::Png => encode_png(&img, icc),
    }?;
    Ok((out, ow, oh))
}

fn flatten_on_white(img: &RgbaImage) -> RgbImage {
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let p = img.get_pixel(x, y).0;
        let a = p[3] as u32;
        let mix = |c: u8| ((c as u32 * a + 255 * (255 - a)) / 255) as u8;
        image::Rgb([mix(p[0]), mix(p[1]), mix(p[2])])
    })
}

/// JPEG (jpeg-encoder), with the colour profile.
pub fn encode_jpeg(img: &RgbImage, q: u8, icc: Option<&[u8]>) -> Result<Vec<u8>, RenderError> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, q.clamp(1, 100));
    if let Some(icc) = icc {
        enc.add_icc_profile(icc)
            .map_err(|e| RenderError::Encode(e.to_string()))?;
    }
    enc.encode(
        img.as_raw(),
        img.width() as u16,
        img.height() as u16,
        jpeg_encoder::ColorType::Rgb,
    )
    .map_err(|e| RenderError::Encode(e.to_string()))?;
    Ok(out)
}

/// PNG, with the colour profile.
pub fn encode_png(img: &DynamicImage, icc: Option<&[u8]>) -> Result<Vec<u8>, RenderError> {
    use image::ImageEncoder as _;
    let mut out = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut out);
    if let Some(icc) = icc {
        let _ = enc.set_icc_profile(icc.to_vec());
    }
    enc.write_image(
        img.as_bytes(),
        img.width(),
        img.height(),
        img.color().into(),
    )
    .map_err(|e| RenderError::Encode(e.to_string()))?;
    Ok(out)
}

/// Lossy WebP (libwebp), with the colour profile in an ICCP chunk.
pub fn encode_webp(img: &DynamicImage, q: f32, icc: Option<&[u8]>) -> Result<Vec<u8>, RenderError> {
    let mem = match img {
        DynamicImage::ImageRgba8(i) => {
            webp::Encoder::from_rgba(i.as_raw(), i.width(), i.height()).encode(q.clamp(1.0, 100.0))
        }
        other => {
            let rgb = other.to_rgb8();
            webp::Encoder::from_rgb(rgb.as_raw(), rgb.width(), rgb.height())
                .encode(q.clamp(1.0, 100.0))
        }
    };
    let out = mem.to_vec();
    let Some(icc) = icc else {
        return Ok(out);
    };
    use img_parts::ImageICC as _;
    match img_parts::webp::WebP::from_bytes(bytes::Bytes::from(out.clone())) {
        Ok(mut w) => {
            w.set_icc_profile(Some(bytes::Bytes::copy_from_slice(icc)));
            Ok(w.encoder().bytes().to_vec())
        }
        Err(_) => Ok(out),
    }
}

/// AVIF (rav1e, on the calling thread).
pub fn encode_avif(img: &DynamicImage, q: u8) -> Result<Vec<u8>, RenderError> {
    let enc = ravif::Encoder::new()
        .with_quality(q.clamp(1, 100) as f32)
        .with_speed(10)
        .with_num_threads(Some(1));
    let encoded = match img {
        DynamicImage::ImageRgba8(i) => {
            let px: Vec<ravif::RGBA8> = i
                .as_raw()
                .chunks_exact(4)
                .map(|p| ravif::RGBA8::new(p[0], p[1], p[2], p[3]))
                .collect();
            enc.encode_rgba(ravif::Img::new(
                &px[..],
                i.width() as usize,
                i.height() as usize,
            ))
        }
        other => {
            let rgb = other.to_rgb8();
            let px: Vec<ravif::RGB8> = rgb
                .as_raw()
                .chunks_exact(3)
                .map(|p| ravif::RGB8::new(p[0], p[1], p[2]))
                .collect();
            enc.encode_rgb(ravif::Img::new(
                &px[..],
                rgb.width() as usize,
                rgb.height() as usize,
            ))
        }
    }
    .map_err(|e| RenderError::Encode(e.to_string()))?;
    Ok(encoded.avif_file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_upscales() {
        let v = Variant {
            w: Some(1600),
            h: Some(800),
            fit: Fit::Cover,
            fm: OutFormat::WebP,
            q: 80,
        };
        assert_eq!(v.output_size(800, 600), (800, 400));
        let v = Variant {
            w: Some(400),
            h: None,
            fit: Fit::Inside,
            fm: OutFormat::WebP,
            q: 80,
        };
        assert_eq!(v.output_size(4000, 3000), (400, 300));
        assert_eq!(v.output_size(200, 100), (200, 100));
    }
}
