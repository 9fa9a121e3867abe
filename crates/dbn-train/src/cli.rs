//! The command line: subcommands, their flags and what they run.

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;
use clap::{Args, Parser, Subcommand};
use dbn_data::{
    DEFAULT_VALIDATION, DataError, ImageBatcher, MnistDataset, MnistSplits, N_CLASSES,
    shipped_mnist_dir,
};

use crate::backend;

/// Deep belief networks on Burn: pretrain stacked RBMs, sample from them, fine-tune them into
/// classifiers.
#[derive(Debug, Parser)]
#[command(name = "dbn", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load a data folder, check every file, and print the examples per split and per label.
    Data(DataArgs),
}

/// Where the data comes from.
#[derive(Debug, Args)]
struct DataSource {
    /// Folder in MNIST layout (train-images-idx3-ubyte[.gz] and the three others); MNIST and
    /// Fashion-MNIST alike. Defaults to the MNIST copy shipped in the repository's data/mnist/.
    #[arg(long, env = "DBN_DATA_DIR", value_name = "DIR", default_value_os_t = shipped_mnist_dir())]
    data_dir: PathBuf,

    /// Number of training images held out for validation (the last ones of the training file).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_VALIDATION)]
    validation: usize,
}

#[derive(Debug, Args)]
struct DataArgs {
    #[command(flatten)]
    source: DataSource,
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(self) -> Result<(), Box<dyn Error>> {
        match self.command {
            Command::Data(args) => data_summary(&args.source),
        }
    }
}

/// `dbn data`: loads the three splits and prints a table of counts per label.
fn data_summary(source: &DataSource) -> Result<(), Box<dyn Error>> {
    let start = Instant::now();
    let splits = MnistSplits::load(&source.data_dir, source.validation).map_err(|e| match e {
        DataError::InvalidSplit { .. } => format!("--validation: {e}").into(),
        other => Box::<dyn Error>::from(other),
    })?;
    let elapsed = start.elapsed();
    println!("data folder: {}", source.data_dir.display());
    println!(
        "images: {}x{} pixels; loaded and checked in {:.2} s; backend: {}",
        splits.train.rows(),
        splits.train.cols(),
        elapsed.as_secs_f64(),
        backend::NAME
    );
    println!();
    print!("{:<12}{:>8}{:>7}", "split", "images", "mean");
    for class in 0..N_CLASSES {
        print!("{class:>7}");
    }
    println!();
    let rows: [(&str, &MnistDataset); 3] = [
        ("train", &splits.train),
        ("validation", &splits.valid),
        ("test", &splits.test),
    ];
    for (name, set) in rows {
        let mean = mean_pixel::<backend::Selected>(set, &backend::device());
        print!("{name:<12}{:>8}{mean:>7.4}", set.len());
        for count in set.label_counts() {
            print!("{count:>7}");
        }
        println!();
    }
    Ok(())
}

/// Mean pixel value in [0, 1] over a whole set, computed on backend `B` in batches of images.
fn mean_pixel<B: Backend>(set: &MnistDataset, device: &B::Device) -> f64 {
    const CHUNK: usize = 10_000;
    let batcher = ImageBatcher::default();
    let mut sum = 0.0;
    for start in (0..set.len()).step_by(CHUNK) {
        let items = (start..set.len().min(start + CHUNK))
            .filter_map(|i| set.get(i))
            .collect();
        let images: Tensor<B, 2> = batcher.batch(items, device); // [chunk, n_pixels]
        sum += images.sum().into_scalar().elem::<f64>();
    }
    sum / (set.len() * set.n_pixels()) as f64
}
