//! One certificate as a PDF: A4, text set in DejaVu Serif (regular and bold), embedded as
//! subsetted CID fonts (only the glyphs the page uses, a few KB) with a ToUnicode map, so that
//! every viewer shows and every text extractor reads umlauts, ß and „Anführungszeichen“.

use std::collections::BTreeMap;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSerif.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSerif-Bold.ttf");

/// A4 in PostScript points.
pub const WIDTH: f32 = 595.28;
pub const HEIGHT: f32 = 841.89;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Face {
    Regular,
    Bold,
}

impl Face {
    fn data(self) -> &'static [u8] {
        match self {
            Face::Regular => REGULAR,
            Face::Bold => BOLD,
        }
    }
    fn resource(self) -> Name<'static> {
        match self {
            Face::Regular => Name(b"F1"),
            Face::Bold => Name(b"F2"),
        }
    }
    fn base_name(self) -> &'static str {
        match self {
            Face::Regular => "DejaVuSerif",
            Face::Bold => "DejaVuSerif-Bold",
        }
    }
}

/// Text metrics of one face.
pub struct Metrics {
    face: ttf_parser::Face<'static>,
}

impl Metrics {
    pub fn of(f: Face) -> Metrics {
        Metrics {
            face: ttf_parser::Face::parse(f.data(), 0).expect("the embedded font parses"),
        }
    }

    fn glyph(&self, c: char) -> u16 {
        self.face
            .glyph_index(c)
            .or_else(|| self.face.glyph_index('?'))
            .map(|g| g.0)
            .unwrap_or(0)
    }

    fn advance(&self, gid: u16) -> f32 {
        self.face
            .glyph_hor_advance(ttf_parser::GlyphId(gid))
            .unwrap_or(0) as f32
            / self.face.units_per_em() as f32
    }

    /// Width of `text` at `size` points.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        text.chars()
            .map(|c| self.advance(self.glyph(c)))
            .sum::<f32>()
            * size
    }
}

/// A page being laid out: text runs and vector drawing, written out by [`Page::finish`].
pub struct Page {
    regular: Metrics,
    bold: Metrics,
    runs: Vec<(Face, f32, f32, f32, String, [f32; 3])>,
    drawing: Content,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            regular: Metrics::of(Face::Regular),
            bold: Metrics::of(Face::Bold),
            runs: Vec::new(),
            drawing: Content::new(),
        }
    }
}

impl Page {
    pub fn metrics(&self, f: Face) -> &Metrics {
        match f {
            Face::Regular => &self.regular,
            Face::Bold => &self.bold,
        }
    }

    /// Text starting at `x`, baseline `y`.
    pub fn text(&mut self, f: Face, size: f32, x: f32, y: f32, text: &str, rgb: [f32; 3]) {
        self.runs.push((f, size, x, y, text.to_string(), rgb));
    }

    /// Text centred on the page; returns the size used (shrunk until it fits `max_width`).
    pub fn centered(
        &mut self,
        f: Face,
        size: f32,
        y: f32,
        text: &str,
        max_width: f32,
        rgb: [f32; 3],
    ) -> f32 {
        let mut size = size;
        while size > 8.0 && self.metrics(f).width(text, size) > max_width {
            size -= 0.5;
        }
        let w = self.metrics(f).width(text, size);
        self.text(f, size, (WIDTH - w) / 2.0, y, text, rgb);
        size
    }

    /// Vector drawing (frame, lines, the emblem).
    pub fn draw(&mut self) -> &mut Content {
        &mut self.drawing
    }

    /// The finished PDF document.
    pub fn finish(mut self, title: &str, author: &str) -> Vec<u8> {
        let mut alloc = Ref::new(1);
        let catalog = alloc.bump();
        let tree = alloc.bump();
        let page_id = alloc.bump();
        let content_id = alloc.bump();
        let info = alloc.bump();

        // Glyphs per face, in order of first use.
        let mut used: BTreeMap<Face, BTreeMap<u16, char>> = BTreeMap::new();
        for (f, _, _, _, text, _) in &self.runs {
            let m = self.metrics(*f);
            let g = used.entry(*f).or_default();
            for c in text.chars() {
                g.entry(m.glyph(c)).or_insert(c);
            }
        }

        let mut pdf = Pdf::new();
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree).kids([page_id]).count(1);
        let mut font_refs = Vec::new();
        let mut remaps: BTreeMap<Face, subsetter::GlyphRemapper> = BTreeMap::new();
        for (face, glyphs) in &used {
            let mut remapper = subsetter::GlyphRemapper::new();
            for gid in glyphs.keys() {
                remapper.remap(*gid);
            }
            let subset = subsetter::subset(face.data(), 0, &remapper).expect("the font subsets");
            let m = self.metrics(*face);
            let scale = 1000.0 / m.face.units_per_em() as f32;
            let (type0, cid, descriptor, file, cmap_id) = (
                alloc.bump(),
                alloc.bump(),
                alloc.bump(),
                alloc.bump(),
                alloc.bump(),
            );
            // A subset's name carries a tag of six capitals (PDF 9.6.4).
            let tag = if *face == Face::Regular {
                "VBDREG"
            } else {
                "VBDBLD"
            };
            let base = format!("{tag}+{}", face.base_name());
            pdf.type0_font(type0)
                .base_font(Name(base.as_bytes()))
                .encoding_predefined(Name(b"Identity-H"))
                .descendant_font(cid)
                .to_unicode(cmap_id);
            let system = SystemInfo {
                registry: Str(b"Adobe"),
                ordering: Str(b"Identity"),
                supplement: 0,
            };
            let mut c = pdf.cid_font(cid);
            c.subtype(CidFontType::Type2)
                .base_font(Name(base.as_bytes()))
                .system_info(system)
                .font_descriptor(descriptor)
                .default_width(0.0)
                .cid_to_gid_map_predefined(Name(b"Identity"));
            let mut by_new: Vec<(u16, f32)> = glyphs
                .keys()
                .map(|g| (remapper.get(*g).unwrap_or(0), m.advance(*g) * 1000.0))
                .collect();
            by_new.sort_by_key(|(n, _)| *n);
            {
                let mut w = c.widths();
                for (n, width) in &by_new {
                    w.consecutive(*n, [*width]);
                }
            }
            c.finish();
            let bb = m.face.global_bounding_box();
            pdf.font_descriptor(descriptor)
                .name(Name(base.as_bytes()))
                .flags(FontFlags::SERIF | FontFlags::NON_SYMBOLIC)
                .bbox(Rect::new(
                    bb.x_min as f32 * scale,
                    bb.y_min as f32 * scale,
                    bb.x_max as f32 * scale,
                    bb.y_max as f32 * scale,
                ))
                .italic_angle(0.0)
                .ascent(m.face.ascender() as f32 * scale)
                .descent(m.face.descender() as f32 * scale)
                .cap_height(m.face.capital_height().unwrap_or(m.face.ascender()) as f32 * scale)
                .stem_v(if *face == Face::Bold { 140.0 } else { 80.0 })
                .font_file2(file);
            let packed = miniz_oxide::deflate::compress_to_vec_zlib(&subset, 6);
            pdf.stream(file, &packed)
                .filter(Filter::FlateDecode)
                .pair(Name(b"Length1"), subset.len() as i32);
            let mut cmap = UnicodeCmap::new(Name(b"Verbund-UTF16"), system);
            for (gid, ch) in glyphs {
                if let Some(n) = remapper.get(*gid) {
                    cmap.pair(n, *ch);
                }
            }
            pdf.cmap(cmap_id, &cmap.finish());
            font_refs.push((*face, type0));
            remaps.insert(*face, remapper);
        }

        let mut content = std::mem::replace(&mut self.drawing, Content::new());
        for (f, size, x, y, text, rgb) in &self.runs {
            let m = self.metrics(*f);
            let r = &remaps[f];
            let mut encoded = Vec::with_capacity(text.len() * 2);
            for c in text.chars() {
                let n = r.get(m.glyph(c)).unwrap_or(0);
                encoded.extend_from_slice(&n.to_be_bytes());
            }
            content
                .set_fill_rgb(rgb[0], rgb[1], rgb[2])
                .begin_text()
                .set_font(f.resource(), *size)
                .next_line(*x, *y)
                .show(Str(&encoded))
                .end_text();
        }
        let content = content.finish();
        let packed = miniz_oxide::deflate::compress_to_vec_zlib(&content, 6);

        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, WIDTH, HEIGHT))
            .parent(tree)
            .contents(content_id);
        {
            let mut res = page.resources();
            let mut fonts = res.fonts();
            for (face, r) in &font_refs {
                fonts.pair(face.resource(), *r);
            }
        }
        page.finish();
        pdf.stream(content_id, &packed).filter(Filter::FlateDecode);
        pdf.document_info(info)
            .title(TextStr(title))
            .author(TextStr(author))
            .creator(TextStr("Verbund membership-certificate"));
        pdf.finish()
    }
}
