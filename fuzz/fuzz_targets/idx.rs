//! The IDX reader on arbitrary bytes, raw and gzipped: an error or a well-formed result, never
//! a panic, a hang or an allocation beyond what the input can fill.
#![no_main]

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;

use dbn_data::idx::{parse_images, parse_labels};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.idx");
    let mut gzipped = GzEncoder::new(Vec::new(), Compression::fast());
    gzipped.write_all(data).unwrap();
    let gzipped = gzipped.finish().unwrap();
    for bytes in [data, &gzipped[..]] {
        if let Ok(images) = parse_images(bytes, path) {
            assert_eq!(
                images.pixels.len(),
                images.count * images.rows * images.cols
            );
        }
        if let Ok(labels) = parse_labels(bytes, path) {
            assert!(labels.iter().all(|&label| label <= 9));
        }
    }
});
