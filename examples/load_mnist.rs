//! Measures loading an MNIST-format folder: wall time per split and peak resident memory.
//!
//! ```text
//! cargo run --release -p dbn-examples --example load_mnist [-- DIR]
//! ```
//! `DIR` defaults to the MNIST copy shipped in `data/mnist/`. The figures in `dbn-data`'s crate
//! docs come from this program.

use std::time::Instant;

use burn::data::dataset::Dataset;
use dbn_data::{ExampleSet, Split, shipped_mnist_dir};

/// Peak resident set size of this process in KiB (`VmHWM`), where /proc is available.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), dbn_data::DataError> {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(shipped_mnist_dir, Into::into);
    let baseline = peak_rss_kib();
    let start = Instant::now();
    let train = ExampleSet::load(&dir, Split::Train)?;
    let train_time = start.elapsed();
    let train_peak = peak_rss_kib();
    let start = Instant::now();
    let test = ExampleSet::load(&dir, Split::Test)?;
    let test_time = start.elapsed();
    let decoded_mb = (train.len() * (train.width() + std::mem::size_of::<usize>())) as f64 / 1e6;
    let [rows, cols] = train.image_shape().unwrap_or([1, train.width()]);
    println!("folder: {}", dir.display());
    println!(
        "train: {} images of {}x{} in {:.3} s ({decoded_mb:.1} MB decoded)",
        train.len(),
        rows,
        cols,
        train_time.as_secs_f64()
    );
    println!(
        "test:  {} images in {:.3} s",
        test.len(),
        test_time.as_secs_f64()
    );
    if let (Some(before), Some(after)) = (baseline, train_peak) {
        let grown_mb = (after - before) as f64 * 1024.0 / 1e6;
        println!(
            "peak resident memory: {:.1} MB before loading, {:.1} MB after the train split \
             (+{grown_mb:.1} MB, {:.2}x the decoded size)",
            before as f64 * 1024.0 / 1e6,
            after as f64 * 1024.0 / 1e6,
            grown_mb / decoded_mb
        );
    }
    Ok(())
}
