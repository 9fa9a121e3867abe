//! MNIST-format data sets and Burn batchers for deep belief networks.
//!
//! - [`idx`]: a strict reader of IDX files, raw or gzipped (decided by content), that checks
//!   magic number, dimensions, exact length and label range, with a typed [`DataError`] naming
//!   the file for every failure.
//! - [`ExampleSet`]: examples (features, and a class when labelled) of one IDX split of a folder
//!   in MNIST layout or of a table file, as a Burn [`Dataset`](burn::data::dataset::Dataset);
//!   [`Splits`] loads train, validation (the last [`DEFAULT_VALIDATION`] training images of a
//!   folder by default) and test together, or splits a table file's shuffled examples by
//!   [`SplitSize`]. MNIST and Fashion-MNIST alike; [`shipped_mnist_dir`] is the MNIST copy inside
//!   this repository.
//! - [`Standardization`]: per-feature mean and scale of real-valued data, for Gaussian visible
//!   units.
//! - [`table`]: examples as a [`Table`] of numbers read from CSV, NumPy `.npy` / `.npz` or
//!   IDX files ([`read_table`]), every bad cell refused naming its file, line and column; and
//!   written back as `.npy` or CSV ([`npy_bytes`], [`csv_bytes`]).
//! - [`ImageBatcher`] and [`ClassificationBatcher`]: Burn
//!   [`Batcher`](burn::data::dataloader::batcher::Batcher)s giving `[batch, width]` features
//!   (with a [`Binarization`] of data in [0, 1] for RBM training) and `[batch]` class targets.
//!
//! ```no_run
//! use dbn_data::{Splits, DEFAULT_VALIDATION, shipped_mnist_dir};
//! use burn::data::dataset::Dataset;
//!
//! let splits = Splits::load(shipped_mnist_dir(), DEFAULT_VALIDATION)?;
//! assert_eq!((splits.train.len(), splits.valid.len(), splits.test.len()), (50_000, 10_000, 10_000));
//! # Ok::<(), dbn_data::DataError>(())
//! ```
//!
//! # Cost of loading
//! Measured on our 2-core CI-class machine (release build, `cargo run --release -p dbn-examples
//! --example load_mnist [-- DIR]`), 2026-11-26:
//!
//! | folder | training split (60,000 images, gzipped) | test split | resident memory added |
//! | --- | --- | --- | --- |
//! | shipped MNIST | 0.099 s | 0.017 s | 47.2 MB (1.00x the 47.1 MB decoded) |
//! | Fashion-MNIST | 0.152 s | 0.025 s | 47.2 MB (1.00x) |
//!
//! Images stay bytes in memory (decoded size: 60,000 x 784 + 60,000 labels = 47.1 MB, measured
//! above with byte labels; labels are `usize` since table files came, 0.4 MB more); they become
//! `f32` only example by example. The test `tests/memory.rs` counts heap allocations while the
//! training split loads and asserts a peak under twice the decoded size (47,151,728 bytes,
//! 1.001x, with byte labels): the decoder streams from the file and reserves the data buffer
//! once. Table files are held as `f32`.

pub mod batcher;
pub mod dataset;
pub mod error;
pub mod idx;
pub mod loader;
pub mod standardize;
pub mod table;

pub use batcher::{Binarization, ClassificationBatch, ClassificationBatcher, ImageBatcher};
pub use dataset::{
    DEFAULT_VALIDATION, Example, ExampleSet, N_CLASSES, Split, SplitSize, Splits, check_columns,
    shipped_mnist_dir, square_image,
};
pub use error::{DataError, Result};
pub use loader::EpochLoader;
pub use standardize::{GREY_MAX, Standardization, ValueRange};
pub use table::{
    Table, TableOptions, class_name, csv_bytes, labelled_csv_bytes, npy_bytes, read_table, shown,
};
