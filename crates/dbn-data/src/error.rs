//! The one error type of this crate: every failure names the file (or setting) and what is wrong.

use std::io;
use std::path::PathBuf;

/// What can go wrong while reading a data folder or file, or configuring a batcher.
///
/// Each variant names the offending file, so a message can be shown to a user as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Neither the raw nor the gzipped form of a file exists.
    #[error("{}: file not found (nor with a .gz suffix)", path.display())]
    Missing {
        /// The path looked for, without the `.gz` suffix.
        path: PathBuf,
    },
    /// The file exists but could not be opened or read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file starts like gzip but its compressed stream is corrupt.
    #[error("{}: corrupt gzip stream: {source}", path.display())]
    Gzip {
        /// The file being read.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: io::Error,
    },
    /// The first four bytes are not the IDX magic number expected for this kind of file.
    #[error(
        "{}: wrong magic number 0x{found:08x}, expected 0x{expected:08x} ({what})",
        path.display()
    )]
    BadMagic {
        /// The file being read.
        path: PathBuf,
        /// The magic number found.
        found: u32,
        /// The magic number expected.
        expected: u32,
        /// What kind of file was expected, in words.
        what: &'static str,
    },
    /// The dimensions in the header are unusable (zero-sized images, or a size that overflows).
    #[error("{}: invalid dimensions {dims:?}: {reason}", path.display())]
    BadDimensions {
        /// The file being read.
        path: PathBuf,
        /// The dimensions read from the header.
        dims: Vec<u32>,
        /// Why they are rejected.
        reason: &'static str,
    },
    /// The file ends before the header, or before the data its header promises.
    ///
    /// Byte counts are of the (decompressed) file from its first byte.
    #[error(
        "{}: truncated: {expected} bytes expected from the IDX header, only {found} present",
        path.display()
    )]
    Truncated {
        /// The file being read.
        path: PathBuf,
        /// Bytes the header (or the header so far) requires.
        expected: u64,
        /// Bytes actually present.
        found: u64,
    },
    /// The file holds more bytes than its header accounts for.
    #[error(
        "{}: trailing data after the {expected} bytes the IDX header accounts for",
        path.display()
    )]
    TrailingData {
        /// The file being read.
        path: PathBuf,
        /// Bytes the header accounts for.
        expected: u64,
    },
    /// An image file and its label file disagree on the number of examples.
    #[error(
        "{} holds {n_images} images but {} holds {n_labels} labels",
        images.display(),
        labels.display()
    )]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// Number of images in it.
        n_images: usize,
        /// The label file.
        labels: PathBuf,
        /// Number of labels in it.
        n_labels: usize,
    },
    /// A label is not a digit class 0..=9.
    #[error("{}: label {label} at index {index} is outside 0..=9", path.display())]
    LabelOutOfRange {
        /// The label file.
        path: PathBuf,
        /// Position of the label in the file.
        index: usize,
        /// The label value found.
        label: u8,
    },
    /// The training and test examples have different shapes.
    #[error(
        "{}: {test_shape} but {} has {train_shape}",
        test.display(),
        train.display()
    )]
    ShapeMismatch {
        /// The training examples' file.
        train: PathBuf,
        /// Their shape in words: `28x28 images`, `13 features per example`.
        train_shape: String,
        /// The test examples' file.
        test: PathBuf,
        /// Their shape in words.
        test_shape: String,
    },
    /// A validation or test split that leaves no training examples.
    #[error(
        "{what} split of {requested} examples is invalid: there are {available} examples and \
         at least one must remain for training"
    )]
    InvalidSplit {
        /// Which split: `validation` or `test`.
        what: &'static str,
        /// Examples requested.
        requested: usize,
        /// Examples in the set being divided.
        available: usize,
    },
    /// Two sets joined into one are not views of one loaded file.
    #[error(
        "cannot join examples of {} with examples of {}: they are not views of one loaded file",
        first.display(),
        second.display()
    )]
    DifferentSources {
        /// The image file of the first set.
        first: PathBuf,
        /// The image file of the second set.
        second: PathBuf,
    },
    /// A table file (CSV, NumPy) whose layout is unusable: not of its format, no examples,
    /// lines of different lengths, a missing column or array, a shape or type not read, counts
    /// of features and labels that differ.
    #[error("{}: {reason}", path.display())]
    BadTable {
        /// The file being read.
        path: PathBuf,
        /// What is wrong, naming the line, column or array.
        reason: String,
    },
    /// A value of a table file that is not what it must be: not a number, not finite, a label
    /// that is not a class index.
    #[error("{}: {at}: {reason}", path.display())]
    BadCell {
        /// The file being read.
        path: PathBuf,
        /// Where: `line 4, column "x2"` (CSV) or `array y row 7 (from 0)` (NumPy).
        at: String,
        /// What is wrong.
        reason: String,
    },
    /// A binarisation threshold outside the open interval (0, 1).
    #[error("binarisation threshold {0} is invalid: it must lie strictly between 0 and 1")]
    InvalidThreshold(f32),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, DataError>;
