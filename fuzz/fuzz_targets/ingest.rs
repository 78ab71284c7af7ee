//! Any upload: taken in or refused with a reason, never a panic. What is taken in is the same
//! format again, is stable (taking it in again changes nothing), stays within the pixel bound,
//! and renders a thumbnail without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verbund_core::media::ingest::{IngestLimits, ingest, sniff};
use verbund_core::media::{Fit, OutFormat, Variant, render};

const LIMITS: IngestLimits = IngestLimits {
    max_bytes: 1 << 20,
    max_pixels: 1 << 20,
    max_side: 4096,
};

fuzz_target!(|data: &[u8]| {
    let Ok(taken) = ingest(data, &LIMITS) else {
        return;
    };
    assert_eq!(sniff(&taken.bytes), Some(taken.format));
    let again = ingest(&taken.bytes, &LIMITS).expect("a sanitised file is taken in again");
    assert_eq!(again.bytes, taken.bytes, "sanitising is stable");
    if let (Some(w), Some(h)) = (taken.width, taken.height) {
        assert!(w as u64 * h as u64 <= LIMITS.max_pixels);
        let thumb = Variant { w: Some(32), h: Some(32), fit: Fit::Cover, fm: OutFormat::Png, q: 100 };
        let _ = render::render(&taken.bytes, taken.format, (w, h), None, None, &thumb);
    }
});
