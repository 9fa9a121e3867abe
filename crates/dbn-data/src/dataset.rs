//! Data sets of examples (feature rows, with a class per row when labelled): a folder in MNIST
//! layout (MNIST itself, Fashion-MNIST, or any IDX set alike), or a table file read by
//! [`crate::read_table`] (CSV, NumPy).
//!
//! A folder holds four files, each raw or gzipped (`NAME` or `NAME.gz`):
//! `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`. A file is decoded once into memory (IDX images stay bytes, tables
//! `f32`); an [`ExampleSet`] is a cheap view (shared data, a list of positions in it), so the
//! deterministic train/validation/test splits, shuffles and labelled subsets copy no examples.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use burn::data::dataset::Dataset;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::idx::{read_images, read_labels};
use crate::standardize::{Standardization, ValueRange};
use crate::table::Table;

/// Number of digit classes of MNIST and Fashion-MNIST (labels 0..=9).
pub const N_CLASSES: usize = 10;

/// Training images of an IDX folder held out for validation by default: the last 10,000, as is
/// customary for MNIST.
pub const DEFAULT_VALIDATION: SplitSize = SplitSize::Count(10_000);

/// Which file pair of the folder to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// `train-*`: 60,000 images in MNIST.
    Train,
    /// `t10k-*`: 10,000 images in MNIST.
    Test,
}

impl Split {
    /// The (images, labels) file names of this split, without `.gz`.
    pub fn file_names(self) -> (&'static str, &'static str) {
        match self {
            Split::Train => ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            Split::Test => ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        }
    }
}

/// The MNIST copy that ships inside this repository (`data/mnist/`), the default data folder.
///
/// The path is fixed at compile time (this crate sits at `crates/dbn-data/` of the repository).
pub fn shipped_mnist_dir() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repository = crate_dir.ancestors().nth(2).unwrap_or(crate_dir);
    repository.join("data").join("mnist")
}

/// How many examples a split takes: a count, or a fraction of the examples it is taken from.
///
/// Written as text (a flag) and in JSON, a whole number is a count (`10000`), a number with a
/// point a fraction strictly between 0 and 1 (`0.2`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SplitSize {
    /// This many examples.
    Count(usize),
    /// This share of the examples, rounded to the nearest whole example.
    Fraction(f64),
}

impl SplitSize {
    /// The number of examples this size takes of `available`.
    pub fn of(self, available: usize) -> usize {
        match self {
            SplitSize::Count(n) => n,
            SplitSize::Fraction(f) => (f * available as f64).round() as usize,
        }
    }

    /// Checks a fraction lies strictly between 0 and 1.
    ///
    /// # Errors
    /// The reason, for the caller to name its flag or field.
    pub fn validate(self) -> std::result::Result<Self, String> {
        match self {
            SplitSize::Fraction(f) if !(f > 0.0 && f < 1.0) => Err(format!(
                "{f} is neither a count of examples (a whole number) nor a fraction strictly \
                 between 0 and 1"
            )),
            other => Ok(other),
        }
    }
}

impl FromStr for SplitSize {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        if let Ok(n) = text.parse::<usize>() {
            return Ok(SplitSize::Count(n));
        }
        let f: f64 = text.parse().map_err(|_| {
            format!("{text:?} is neither a count of examples nor a fraction such as 0.2")
        })?;
        SplitSize::Fraction(f).validate()
    }
}

impl std::fmt::Display for SplitSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitSize::Count(n) => write!(f, "{n}"),
            SplitSize::Fraction(x) => write!(f, "{x}"),
        }
    }
}

/// One example: its features and, in a labelled set, its class.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// Position of the example in its file: stable under slicing and shuffling, it keys the
    /// seeded stochastic binarisation of [`crate::ImageBatcher`].
    pub index: usize,
    /// The features, `[width]`: grey levels / 255 for IDX images, the file's values (or
    /// their [`Standardization`]) for tables.
    pub features: Vec<f32>,
    /// The class, `0..n_classes`; `None` in an unlabelled set.
    pub label: Option<usize>,
}

/// The values of a decoded file, row after row.
#[derive(Debug)]
enum Values {
    /// Grey levels 0..=255 of IDX images (a quarter of the memory of `f32`).
    Grey(Vec<u8>),
    /// Real values.
    Real(Vec<f32>),
}

/// The shape of a square picture of `width` pixels (`[28, 28]` for 784); `None` where `width`
/// is not a square.
pub fn square_image(width: usize) -> Option<[usize; 2]> {
    let side = width.isqrt();
    (side * side == width).then_some([side, side])
}

/// A decoded file: all its examples.
#[derive(Debug)]
struct Decoded {
    /// The features' file.
    source: PathBuf,
    /// Features per example.
    width: usize,
    /// (rows, columns) of the examples when they are images.
    image: Option<[usize; 2]>,
    /// `n * width` values.
    values: Values,
    /// `n` classes, when the file is labelled.
    labels: Option<Vec<usize>>,
    /// The classes' names, when the file names them ([`Table::classes`]); empty otherwise.
    classes: Vec<String>,
    /// The features' names (a CSV file's header); empty when the file names none.
    names: Vec<String>,
    /// Whether the values are 8-bit grey levels divided by 255 as read ([`Table::grey_levels`]).
    grey_levels: bool,
}

/// A view of one decoded file (its examples at given positions); implements Burn's
/// [`Dataset`].
#[derive(Clone, Debug)]
pub struct ExampleSet {
    data: Arc<Decoded>,
    /// Positions in the file, in the order served.
    positions: Arc<[usize]>,
}

impl ExampleSet {
    /// Loads one split of the IDX folder `dir`, checking every file completely.
    ///
    /// # Errors
    /// Any [`DataError`] of the IDX reader, and [`DataError::CountMismatch`] when the image and
    /// label files disagree on the number of examples.
    pub fn load(dir: impl AsRef<Path>, split: Split) -> Result<Self> {
        let (images_name, labels_name) = split.file_names();
        let images_path = locate(dir.as_ref(), images_name);
        let labels_path = locate(dir.as_ref(), labels_name);
        let images = read_images(&images_path)?;
        let labels = read_labels(&labels_path)?;
        if images.count != labels.len() {
            return Err(DataError::CountMismatch {
                images: images_path,
                n_images: images.count,
                labels: labels_path,
                n_labels: labels.len(),
            });
        }
        let data = Decoded {
            source: images_path,
            width: images.rows * images.cols,
            image: Some([images.rows, images.cols]),
            values: Values::Grey(images.pixels),
            labels: Some(labels.into_iter().map(usize::from).collect()),
            classes: Vec::new(),
            names: Vec::new(),
            grey_levels: true,
        };
        Ok(Self::whole(data))
    }

    /// The examples of a table read from `source` ([`crate::read_table`]), in its order.
    pub fn from_table(source: impl Into<PathBuf>, table: Table) -> Self {
        Self::whole(Decoded {
            source: source.into(),
            width: table.cols,
            image: table.image,
            values: Values::Real(table.values),
            labels: table.labels,
            classes: table.classes,
            names: table.names,
            grey_levels: table.grey_levels,
        })
    }

    /// Every example of `data`, in order.
    fn whole(data: Decoded) -> Self {
        let n = match &data.values {
            Values::Grey(v) => v.len(),
            Values::Real(v) => v.len(),
        } / data.width.max(1);
        Self {
            data: Arc::new(data),
            positions: (0..n).collect(),
        }
    }

    /// Divides this set into (the rest, the last `n` examples), for a validation or test split
    /// (`what`, named in the error).
    ///
    /// # Errors
    /// [`DataError::InvalidSplit`] unless `n < self.len()`.
    pub fn split_last(self, n: usize, what: &'static str) -> Result<(Self, Self)> {
        let available = self.len();
        if n >= available {
            return Err(DataError::InvalidSplit {
                what,
                requested: n,
                available,
            });
        }
        let (rest, last) = self.positions.split_at(available - n);
        Ok((self.view(rest.into()), self.view(last.into())))
    }

    /// The same examples in an order shuffled by `seed` (the same seed, the same order).
    pub fn shuffled(self, seed: u64) -> Self {
        let mut positions = self.positions.to_vec();
        positions.shuffle(&mut StdRng::seed_from_u64(seed));
        self.view(positions.into())
    }

    /// The first `n` examples (all of them if fewer): a small slice for quick runs and tests.
    pub fn take(self, n: usize) -> Self {
        let n = n.min(self.len());
        self.view(self.positions[..n].into())
    }

    /// A labelled subset with classes as even as possible: the first `n / classes` examples of
    /// each of the [`ExampleSet::n_classes`] classes (one more for the first `n % classes`),
    /// in their order in this set; classes with too few examples give all they have. An
    /// unlabelled set gives its first `n` examples.
    pub fn balanced(self, n: usize) -> Self {
        let Some(labels) = &self.data.labels else {
            return self.take(n);
        };
        let classes = self.n_classes().max(1);
        let mut wanted: Vec<usize> = (0..classes)
            .map(|c| n / classes + usize::from(c < n % classes))
            .collect();
        let positions: Vec<usize> = self
            .positions
            .iter()
            .copied()
            .filter(|&at| {
                let class = labels[at];
                let keep = wanted[class] > 0;
                wanted[class] = wanted[class].saturating_sub(1);
                keep
            })
            .collect();
        self.view(positions.into())
    }

    /// The examples of `self` followed by those of `other`: a training set and its validation
    /// split made whole again, say.
    ///
    /// # Errors
    /// [`DataError::DifferentSources`] unless both are views of one loaded file.
    pub fn join(self, other: &Self) -> Result<Self> {
        if !Arc::ptr_eq(&self.data, &other.data) {
            return Err(DataError::DifferentSources {
                first: self.data.source.clone(),
                second: other.data.source.clone(),
            });
        }
        let positions: Vec<usize> = self
            .positions
            .iter()
            .chain(other.positions.iter())
            .copied()
            .collect();
        Ok(self.view(positions.into()))
    }

    /// The same positions of the file with every example's features standardised by
    /// `scaling`: a new copy of the file's values (as `f32`), which views of the old one do not
    /// share. Grey levels ([`Standardization::grey_levels`]) are divided only where the file's
    /// values pass 1: a file in [0, 1] (IDX images and `uint8` arrays, divided as they are
    /// read) is already as the division makes them. Grey levels of a square number of features
    /// without an image shape (a CSV file of 784 pixels) become square images (28x28).
    ///
    /// # Panics
    /// When `scaling` is not of this set's width.
    pub fn standardized(&self, scaling: &Standardization) -> Self {
        assert_eq!(scaling.width(), self.width(), "standardisation width");
        let mut values = match &self.data.values {
            Values::Grey(grey) => grey.iter().map(|&g| f32::from(g) / 255.0).collect(),
            Values::Real(real) => real.clone(),
        };
        let grey = scaling.is_grey_levels();
        let divided_already = grey && ValueRange::of(values.iter().copied()).in_unit_interval();
        if !divided_already {
            for row in values.chunks_mut(self.width().max(1)) {
                scaling.apply(row);
            }
        }
        let width = self.data.width;
        let square = square_image(width).filter(|_| grey);
        let data = Decoded {
            source: self.data.source.clone(),
            width,
            image: self.data.image.or(square),
            values: Values::Real(values),
            labels: self.data.labels.clone(),
            classes: self.data.classes.clone(),
            names: self.data.names.clone(),
            grey_levels: false,
        };
        Self {
            data: Arc::new(data),
            positions: Arc::clone(&self.positions),
        }
    }

    /// The same data seen through other positions.
    fn view(&self, positions: Arc<[usize]>) -> Self {
        Self {
            data: Arc::clone(&self.data),
            positions,
        }
    }

    /// Features per example (784 for MNIST): the visible layer's size.
    pub fn width(&self) -> usize {
        self.data.width
    }

    /// (rows, columns) of each example when the examples are images (`[28, 28]` for MNIST):
    /// pictures tile them at this shape. `None` for other data.
    pub fn image_shape(&self) -> Option<[usize; 2]> {
        self.data.image
    }

    /// The features' names, a CSV file's header (the label column left out); empty for a file
    /// that names none (IDX, NumPy, a CSV file without a header).
    pub fn names(&self) -> &[String] {
        &self.data.names
    }

    /// The file the features were read from.
    pub fn source(&self) -> &Path {
        &self.data.source
    }

    /// Features of example `i` of this set, `[width]`; `None` past the end.
    pub fn features(&self, i: usize) -> Option<Vec<f32>> {
        let at = self.absolute(i)?;
        let range = at * self.width()..(at + 1) * self.width();
        Some(match &self.data.values {
            Values::Grey(grey) => grey[range].iter().map(|&g| f32::from(g) / 255.0).collect(),
            Values::Real(real) => real[range].to_vec(),
        })
    }

    /// Whether the examples have classes.
    pub fn is_labelled(&self) -> bool {
        self.data.labels.is_some()
    }

    /// Label of example `i` of this set; `None` past the end or in an unlabelled set.
    pub fn label(&self, i: usize) -> Option<usize> {
        Some(self.data.labels.as_ref()?[self.absolute(i)?])
    }

    /// The labels of this set in its order; `None` when unlabelled.
    pub fn labels(&self) -> Option<Vec<usize>> {
        let labels = self.data.labels.as_ref()?;
        Some(self.positions.iter().map(|&at| labels[at]).collect())
    }

    /// Number of classes: those the file names ([`ExampleSet::class_names`]), or one more than
    /// the highest label of the whole file (10 for MNIST); 0 when unlabelled.
    pub fn n_classes(&self) -> usize {
        self.data
            .labels
            .as_ref()
            .and_then(|labels| labels.iter().max())
            .map_or(0, |&top| top + 1)
            .max(self.data.classes.len())
    }

    /// The classes' names in class order, when the file gives labels as names (a CSV label
    /// column of `setosa`, `versicolor`, ...); empty for class indices and unlabelled data.
    pub fn class_names(&self) -> &[String] {
        &self.data.classes
    }

    /// Number of examples of each class, `[n_classes]`; empty when unlabelled.
    pub fn label_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.n_classes()];
        if let Some(labels) = &self.data.labels {
            for &at in self.positions.iter() {
                counts[labels[at]] += 1;
            }
        }
        counts
    }

    /// The lowest and highest feature value of this set's examples (IDX images lie in
    /// [0, 1]), and whether all are whole numbers.
    pub fn value_range(&self) -> ValueRange {
        ValueRange::of((0..self.len()).filter_map(|i| self.features(i)).flatten())
    }

    /// Whether the values are 8-bit grey levels divided by 255 as read: an IDX file's images,
    /// a `uint8` array's rows ([`Table::grey_levels`]).
    pub fn read_as_grey_levels(&self) -> bool {
        self.data.grey_levels
    }

    /// Position in the file of example `i` of this view.
    fn absolute(&self, i: usize) -> Option<usize> {
        self.positions.get(i).copied()
    }
}

impl Dataset<Example> for ExampleSet {
    fn get(&self, index: usize) -> Option<Example> {
        Some(Example {
            index: self.absolute(index)?,
            features: self.features(index)?,
            label: self.label(index),
        })
    }

    fn len(&self) -> usize {
        self.positions.len()
    }
}

/// The three sets a run needs: training, validation (held out from the training file) and test.
#[derive(Clone, Debug)]
pub struct Splits {
    /// The training examples less the validation (and, without a test file, test) examples.
    pub train: ExampleSet,
    /// The validation examples.
    pub valid: ExampleSet,
    /// The test examples.
    pub test: ExampleSet,
}

impl Splits {
    /// Loads both splits of the IDX folder `dir` and holds out the last `n_valid` training
    /// examples ([`DEFAULT_VALIDATION`] is customary), in the files' order.
    ///
    /// # Errors
    /// Any error of [`ExampleSet::load`] and [`ExampleSet::split_last`], and
    /// [`DataError::ShapeMismatch`] when the two splits' images differ in size.
    pub fn load(dir: impl AsRef<Path>, n_valid: SplitSize) -> Result<Self> {
        let dir = dir.as_ref();
        let full_train = ExampleSet::load(dir, Split::Train)?;
        let test = ExampleSet::load(dir, Split::Test)?;
        check_same_shape(&full_train, &test)?;
        let n_valid = n_valid.of(full_train.len());
        let (train, valid) = full_train.split_last(n_valid, "validation")?;
        Ok(Self { train, valid, test })
    }

    /// The splits of a table file's examples `all`: shuffled by `seed`, then `test` examples
    /// held out for testing unless a `test_set` is given, then `n_valid` of the rest for
    /// validation.
    ///
    /// # Errors
    /// [`DataError::InvalidSplit`] for splits that leave no training examples;
    /// [`DataError::ShapeMismatch`] for a test set of another width; [`DataError::BadTable`]
    /// for a test set labelled when the training set is not, or the other way round, or whose
    /// classes are named otherwise (read it onto the training file's names:
    /// [`crate::TableOptions::classes`]).
    pub fn of_examples(
        all: ExampleSet,
        test_set: Option<ExampleSet>,
        n_valid: SplitSize,
        n_test: SplitSize,
        seed: u64,
    ) -> Result<Self> {
        let all = all.shuffled(seed);
        let n = all.len();
        let (rest, test) = match test_set {
            Some(test) => {
                check_same_shape(&all, &test)?;
                check_columns(test.source(), test.names(), all.names())?;
                if test.is_labelled() != all.is_labelled() {
                    let (labelled, not) = if all.is_labelled() {
                        (&all, &test)
                    } else {
                        (&test, &all)
                    };
                    return Err(DataError::BadTable {
                        path: not.source().to_path_buf(),
                        reason: format!(
                            "has no labels but {} has: name the label column of both",
                            labelled.source().display()
                        ),
                    });
                }
                if test.class_names() != all.class_names() {
                    return Err(DataError::BadTable {
                        path: test.source().to_path_buf(),
                        reason: format!(
                            "its labels are {}, but those of {} are {}: give both files' classes \
                             as indices or both as names (read onto the training file's names \
                             with TableOptions::classes)",
                            label_kind(&test),
                            all.source().display(),
                            label_kind(&all)
                        ),
                    });
                }
                (all, test)
            }
            None => all.split_last(n_test.of(n), "test")?,
        };
        let (train, valid) = rest.split_last(n_valid.of(n), "validation")?;
        Ok(Self { train, valid, test })
    }

    /// Every split's examples standardised by `scaling` ([`ExampleSet::standardized`]); views
    /// of one file stay views of one copy, so that a refit can still join training and
    /// validation examples.
    pub fn standardized(self, scaling: &Standardization) -> Self {
        let train = self.train.standardized(scaling);
        let of_train = |set: ExampleSet| {
            if Arc::ptr_eq(&set.data, &self.train.data) {
                train.view(Arc::clone(&set.positions))
            } else {
                set.standardized(scaling)
            }
        };
        Self {
            valid: of_train(self.valid.clone()),
            test: of_train(self.test.clone()),
            train,
        }
    }

    /// Number of classes of the training and test examples together (see
    /// [`ExampleSet::n_classes`]).
    pub fn n_classes(&self) -> usize {
        self.train.n_classes().max(self.test.n_classes())
    }
}

/// How `set` gives its classes, for an error: "class indices", or the names.
fn label_kind(set: &ExampleSet) -> String {
    match set.class_names() {
        [] => "class indices".into(),
        names => format!("the names {}", crate::table::shown(names)),
    }
}

/// [`DataError::ShapeMismatch`] unless `test`'s examples have `train`'s width and image shape.
fn check_same_shape(train: &ExampleSet, test: &ExampleSet) -> Result<()> {
    let shape = |set: &ExampleSet| match set.image_shape() {
        Some([rows, cols]) => format!("{rows}x{cols} images"),
        None => format!("{} features per example", set.width()),
    };
    if (train.width(), train.image_shape()) == (test.width(), test.image_shape()) {
        return Ok(());
    }
    Err(DataError::ShapeMismatch {
        train: train.source().to_path_buf(),
        train_shape: shape(train),
        test: test.source().to_path_buf(),
        test_shape: shape(test),
    })
}

/// Checks that the features `names` of the file `path` are the `expected` ones in their order,
/// where both files name them (a CSV file with a header) and have as many (another number is
/// the width check's to report): the same columns in another order give every example other
/// features.
///
/// # Errors
/// [`DataError::BadTable`] naming the first column that differs and the expected columns (the
/// first ten of more).
pub fn check_columns(path: &Path, names: &[String], expected: &[String]) -> Result<()> {
    let Some(at) = names.iter().zip(expected).position(|(a, b)| a != b) else {
        return Ok(());
    };
    if names.len() != expected.len() {
        return Ok(());
    }
    let mut shown = expected
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(",");
    if expected.len() > 10 {
        shown.push_str(&format!(",... ({} in all)", expected.len()));
    }
    Err(DataError::BadTable {
        path: path.to_path_buf(),
        reason: format!(
            "feature column {} is {:?} here and {:?} in the training data, whose features are \
             {shown}; give the columns in that order",
            at + 1,
            names[at],
            expected[at]
        ),
    })
}

/// `dir/name.gz` if it exists, else `dir/name` (whose absence the reader then reports).
fn locate(dir: &Path, name: &str) -> PathBuf {
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() { gz } else { dir.join(name) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::{IMAGES_MAGIC, LABELS_MAGIC};
    use crate::table::Table;

    /// Writes a raw MNIST-layout split of `labels.len()` images of 2x3 pixels into `dir`;
    /// image i has every pixel equal to i.
    fn write_split(dir: &Path, split: Split, labels: &[u8]) {
        let (images_name, labels_name) = split.file_names();
        let n = labels.len() as u32;
        let mut images = IMAGES_MAGIC.to_be_bytes().to_vec();
        for d in [n, 2, 3] {
            images.extend(d.to_be_bytes());
        }
        images.extend((0..n).flat_map(|i| [i as u8; 6]));
        let mut label_file = LABELS_MAGIC.to_be_bytes().to_vec();
        label_file.extend(n.to_be_bytes());
        label_file.extend(labels);
        std::fs::write(dir.join(images_name), images).unwrap();
        std::fs::write(dir.join(labels_name), label_file).unwrap();
    }

    fn tiny_folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), Split::Train, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        write_split(dir.path(), Split::Test, &[9, 9, 1]);
        dir
    }

    #[test]
    fn items_carry_pixels_label_and_file_index() {
        let dir = tiny_folder();
        let set = ExampleSet::load(dir.path(), Split::Train).unwrap();
        assert_eq!(
            (set.len(), set.image_shape(), set.width(), set.n_classes()),
            (10, Some([2, 3]), 6, 10)
        );
        let item = set.get(4).unwrap();
        assert_eq!(
            item,
            Example {
                index: 4,
                features: vec![4.0 / 255.0; 6],
                label: Some(4)
            }
        );
        assert_eq!(set.value_range().bounds(), Some((0.0, 9.0 / 255.0)));
        assert!(set.get(10).is_none());
    }

    #[test]
    fn validation_is_the_last_n_and_views_keep_file_indices() {
        let dir = tiny_folder();
        let set = ExampleSet::load(dir.path(), Split::Train).unwrap();
        let (train, valid) = set.split_last(3, "validation").unwrap();
        assert_eq!((train.len(), valid.len()), (7, 3));
        assert_eq!(valid.get(0).unwrap().index, 7);
        assert_eq!(valid.get(2).unwrap().features, vec![9.0 / 255.0; 6]);
        assert!(valid.get(3).is_none());
        assert_eq!(train.label_counts(), [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
        assert_eq!(valid.label_counts(), [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
        let head = train.take(2);
        assert_eq!(head.len(), 2);
        assert_eq!(head.get(1).unwrap().label, Some(1));
    }

    #[test]
    fn joining_a_split_with_its_validation_makes_it_whole_and_other_files_are_refused() {
        let dir = tiny_folder();
        let set = ExampleSet::load(dir.path(), Split::Train).unwrap();
        let (train, valid) = set.split_last(3, "validation").unwrap();
        let whole = train.take(4).join(&valid).unwrap();
        let indices: Vec<usize> = (0..whole.len())
            .map(|i| whole.get(i).unwrap().index)
            .collect();
        assert_eq!(indices, [0, 1, 2, 3, 7, 8, 9]);
        let test = ExampleSet::load(dir.path(), Split::Test).unwrap();
        let err = valid.join(&test).unwrap_err().to_string();
        assert!(
            err.contains("train-images-idx3-ubyte") && err.contains("t10k-images-idx3-ubyte"),
            "{err}"
        );
    }

    #[test]
    fn balanced_subsets_take_the_first_examples_of_each_class() {
        let dir = tempfile::tempdir().unwrap();
        // Labels 0..9 three times over: positions 0..30.
        let labels: Vec<u8> = (0..30).map(|i| (i % 10) as u8).collect();
        write_split(dir.path(), Split::Train, &labels);
        let set = ExampleSet::load(dir.path(), Split::Train).unwrap();
        let subset = set.clone().balanced(23);
        assert_eq!(subset.label_counts(), [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]);
        let positions: Vec<usize> = subset.iter().map(|item| item.index).collect();
        assert_eq!(&positions[..12], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(set.balanced(100).len(), 30, "classes give all they have");
    }

    #[test]
    fn a_split_must_leave_training_examples() {
        let dir = tiny_folder();
        let set = ExampleSet::load(dir.path(), Split::Test).unwrap();
        let err = set.split_last(3, "validation").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::InvalidSplit {
                    what: "validation",
                    requested: 3,
                    available: 3
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn splits_load_together() {
        let dir = tiny_folder();
        let splits = Splits::load(dir.path(), SplitSize::Count(2)).unwrap();
        assert_eq!(
            (splits.train.len(), splits.valid.len(), splits.test.len()),
            (8, 2, 3)
        );
        assert_eq!(splits.test.label_counts()[9], 2);
    }

    #[test]
    fn image_and_label_counts_must_agree() {
        let dir = tiny_folder();
        let other = tempfile::tempdir().unwrap();
        write_split(other.path(), Split::Train, &[1, 2]);
        std::fs::copy(
            other.path().join("train-labels-idx1-ubyte"),
            dir.path().join("train-labels-idx1-ubyte"),
        )
        .unwrap();
        let err = ExampleSet::load(dir.path(), Split::Train).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::CountMismatch {
                    n_images: 10,
                    n_labels: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("train-labels-idx1-ubyte"), "{err}");
    }

    #[test]
    fn a_missing_file_is_named_with_the_folder() {
        let dir = tiny_folder();
        std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
        let err = Splits::load(dir.path(), SplitSize::Count(1)).unwrap_err();
        assert!(matches!(err, DataError::Missing { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
        assert!(message.contains("t10k-labels-idx1-ubyte"), "{message}");
    }

    #[test]
    fn the_gzipped_file_is_preferred_and_read_by_content() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let dir = tiny_folder();
        // A gzipped copy of the test labels with different content takes precedence.
        let mut labels = LABELS_MAGIC.to_be_bytes().to_vec();
        labels.extend(3u32.to_be_bytes());
        labels.extend([4, 4, 4]);
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&labels).unwrap();
        std::fs::write(
            dir.path().join("t10k-labels-idx1-ubyte.gz"),
            encoder.finish().unwrap(),
        )
        .unwrap();
        let test = ExampleSet::load(dir.path(), Split::Test).unwrap();
        assert_eq!(test.label_counts()[4], 3);
    }

    #[test]
    fn train_and_test_image_sizes_must_agree() {
        let dir = tiny_folder();
        let mut images = IMAGES_MAGIC.to_be_bytes().to_vec();
        for d in [3u32, 3, 2] {
            images.extend(d.to_be_bytes());
        }
        images.extend([0u8; 18]);
        std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), images).unwrap();
        let err = Splits::load(dir.path(), SplitSize::Count(1)).unwrap_err();
        assert!(matches!(err, DataError::ShapeMismatch { .. }), "{err:?}");
    }

    #[test]
    fn a_test_file_of_the_same_columns_in_another_order_is_refused() {
        let named = |names: [&str; 2]| {
            ExampleSet::from_table(
                "test.csv",
                Table {
                    rows: 4,
                    cols: 2,
                    values: vec![0.0; 8],
                    labels: Some(vec![0, 1, 2, 0]),
                    classes: Vec::new(),
                    image: None,
                    grey_levels: false,
                    names: names.map(String::from).to_vec(),
                },
            )
        };
        let split = |test| {
            Splits::of_examples(
                table(20),
                Some(test),
                SplitSize::Count(2),
                SplitSize::Count(0),
                1,
            )
        };
        assert!(split(named(["a", "b"])).is_ok());
        let Err(err) = split(named(["b", "a"])) else {
            panic!("the same columns in another order were taken");
        };
        let err = err.to_string();
        assert!(
            err.starts_with("test.csv: feature column 1 is \"b\" here and \"a\" in the training data, whose features are a,b"),
            "{err}"
        );
        // A file that names no columns (no header, NumPy) is not checked.
        assert!(check_columns(Path::new("x.npy"), &[], &["a".into()]).is_ok());
    }

    #[test]
    fn a_test_file_whose_classes_are_given_otherwise_is_refused() {
        let with_classes = |source: &str, classes: &[&str]| {
            ExampleSet::from_table(
                source,
                Table {
                    rows: 4,
                    cols: 2,
                    values: vec![0.0; 8],
                    labels: Some(vec![0, 1, 2, 0]),
                    classes: classes.iter().map(|c| c.to_string()).collect(),
                    image: None,
                    grey_levels: false,
                    names: Vec::new(),
                },
            )
        };
        let split = |train, test| {
            Splits::of_examples(
                train,
                Some(test),
                SplitSize::Count(1),
                SplitSize::Count(0),
                1,
            )
        };
        let abc = ["a", "b", "c"];
        let named = split(
            with_classes("train.csv", &abc),
            with_classes("test.csv", &abc),
        );
        assert_eq!(named.unwrap().n_classes(), 3);
        let Err(err) = split(
            with_classes("train.csv", &[]),
            with_classes("test.csv", &abc),
        ) else {
            panic!("names against class indices were taken");
        };
        assert_eq!(
            err.to_string(),
            "test.csv: its labels are the names a, b, c, but those of train.csv are class \
             indices: give both files' classes as indices or both as names (read onto the \
             training file's names with TableOptions::classes)"
        );
        // Names not seen in a file still count as its classes.
        let five = with_classes("train.csv", &["a", "b", "c", "d", "e"]);
        assert_eq!(
            (five.n_classes(), five.label_counts()),
            (5, vec![2, 1, 1, 0, 0])
        );
    }

    /// A labelled table of `n` rows `[i, 10 i]` with class `i % 3`.
    fn table(n: usize) -> ExampleSet {
        let values = (0..n).flat_map(|i| [i as f32, 10.0 * i as f32]).collect();
        ExampleSet::from_table(
            "t.csv",
            Table {
                rows: n,
                cols: 2,
                values,
                labels: Some((0..n).map(|i| i % 3).collect()),
                classes: Vec::new(),
                image: None,
                grey_levels: false,
                names: vec!["a".into(), "b".into()],
            },
        )
    }

    #[test]
    fn a_table_is_a_set_of_real_features_without_an_image_shape() {
        let set = table(5);
        assert_eq!(
            (set.width(), set.image_shape(), set.n_classes()),
            (2, None, 3)
        );
        assert_eq!(set.get(3).unwrap().features, [3.0, 30.0]);
        assert_eq!(set.label_counts(), [2, 2, 1]);
        assert_eq!(set.value_range().bounds(), Some((0.0, 40.0)));
        assert_eq!(set.clone().balanced(3).labels(), Some(vec![0, 1, 2]));
    }

    #[test]
    fn split_sizes_read_counts_and_fractions() {
        assert_eq!("250".parse(), Ok(SplitSize::Count(250)));
        assert_eq!("0.2".parse(), Ok(SplitSize::Fraction(0.2)));
        assert_eq!(SplitSize::Fraction(0.2).of(101), 20);
        for bad in ["1.0", "-0.1", "x", "1.5"] {
            assert!(bad.parse::<SplitSize>().is_err(), "{bad}");
        }
        let json: SplitSize = serde_json::from_str("0.25").unwrap();
        assert_eq!(json, SplitSize::Fraction(0.25));
        let json: SplitSize = serde_json::from_str("10").unwrap();
        assert_eq!(json, SplitSize::Count(10));
    }

    #[test]
    fn a_table_is_shuffled_by_its_seed_then_split_into_test_validation_and_training() {
        let (valid, test) = (SplitSize::Count(3), SplitSize::Fraction(0.25));
        let split = || Splits::of_examples(table(20), None, valid, test, 7).unwrap();
        let splits = split();
        assert_eq!(
            (splits.train.len(), splits.valid.len(), splits.test.len()),
            (12, 3, 5)
        );
        let index = |set: &ExampleSet| -> Vec<usize> { set.iter().map(|e| e.index).collect() };
        let mut all = [
            index(&splits.train),
            index(&splits.valid),
            index(&splits.test),
        ]
        .concat();
        assert_ne!(all, (0..20).collect::<Vec<_>>(), "shuffled");
        all.sort();
        assert_eq!(all, (0..20).collect::<Vec<_>>(), "every example once");
        let again = split();
        assert_eq!(
            index(&again.test),
            index(&splits.test),
            "the same seed, the same split"
        );
        // Refit joins training and validation: views of one file, standardised or not.
        assert_eq!(splits.train.clone().join(&splits.valid).unwrap().len(), 15);
        let scaling = Standardization::fit(&splits.train);
        let standardized = splits.clone().standardized(&scaling);
        assert_eq!(
            standardized.train.join(&standardized.valid).unwrap().len(),
            15
        );
        assert_eq!(index(&standardized.test), index(&splits.test));
        let mut first = splits.test.features(0).unwrap();
        scaling.apply(&mut first);
        assert_eq!(standardized.test.features(0).unwrap(), first);
    }

    /// A table of `rows` examples of `cols` zeros from `name`.
    fn zeros(name: &str, rows: usize, cols: usize, labels: Option<Vec<usize>>) -> ExampleSet {
        let values = vec![0.0; rows * cols];
        let names = Vec::new();
        let table = Table {
            rows,
            cols,
            values,
            labels,
            classes: Vec::new(),
            image: None,
            grey_levels: false,
            names,
        };
        ExampleSet::from_table(name, table)
    }

    /// Why [`Splits::of_examples`] refuses `table(9)` with `test` as its test file.
    fn refusal(test: ExampleSet) -> String {
        let (one, none) = (SplitSize::Count(1), SplitSize::Count(0));
        let splits = Splits::of_examples(table(9), Some(test), one, none, 1);
        splits.unwrap_err().to_string()
    }

    #[test]
    fn a_test_file_must_match_the_training_file() {
        let err = refusal(zeros("other.csv", 2, 3, Some(vec![0, 1])));
        assert!(
            err.contains("other.csv: 3 features per example but t.csv has 2"),
            "{err}"
        );
        let err = refusal(zeros("u.csv", 2, 2, None));
        assert!(err.contains("u.csv: has no labels but t.csv has"), "{err}");
        let err = Splits::of_examples(table(4), None, SplitSize::Count(2), SplitSize::Count(2), 1)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("validation split of 2 examples"), "{err}");
    }
}
