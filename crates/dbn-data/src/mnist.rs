//! Data sets over a folder in MNIST layout: MNIST itself, Fashion-MNIST, or any IDX set alike.
//!
//! A folder holds four files, each raw or gzipped (`NAME` or `NAME.gz`):
//! `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`. A split is decoded once into memory as bytes; a
//! [`MnistDataset`] is a cheap view (shared data, a list of positions in it), so the
//! deterministic train/validation split and labelled subsets copy no images.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataset::Dataset;

use crate::error::{DataError, Result};
use crate::idx::{read_images, read_labels};

/// Number of digit classes (labels are 0..=9).
pub const N_CLASSES: usize = 10;

/// Training images held out for validation by default: the last 10,000, as is customary.
pub const DEFAULT_VALIDATION: usize = 10_000;

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

/// One example: an image's grey levels and its label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MnistItem {
    /// Position of the image in its split's file: stable under slicing, it keys the seeded
    /// stochastic binarisation of [`crate::ImageBatcher`].
    pub index: usize,
    /// `rows * cols` grey levels 0..=255, row-major.
    pub image: Vec<u8>,
    /// The class, 0..=9.
    pub label: u8,
}

/// A decoded split: all images and labels of one file pair.
#[derive(Debug)]
struct Decoded {
    images_path: PathBuf,
    rows: usize,
    cols: usize,
    /// `n * rows * cols` bytes.
    pixels: Vec<u8>,
    /// `n` labels in 0..=9.
    labels: Vec<u8>,
}

/// A view of one decoded split (examples at given positions of its files); implements Burn's
/// [`Dataset`].
#[derive(Clone, Debug)]
pub struct MnistDataset {
    data: Arc<Decoded>,
    /// Positions in the split's files, in the order served.
    positions: Arc<[usize]>,
}

impl MnistDataset {
    /// Loads one split of the folder `dir`, checking every file completely.
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
        let positions = (0..labels.len()).collect();
        let data = Decoded {
            images_path,
            rows: images.rows,
            cols: images.cols,
            pixels: images.pixels,
            labels,
        };
        Ok(Self {
            data: Arc::new(data),
            positions,
        })
    }

    /// Divides this set into (train, validation): the last `n_valid` examples validate.
    ///
    /// # Errors
    /// [`DataError::InvalidSplit`] unless `n_valid < self.len()`.
    pub fn split_validation(self, n_valid: usize) -> Result<(Self, Self)> {
        let available = self.len();
        if n_valid >= available {
            return Err(DataError::InvalidSplit {
                requested: n_valid,
                available,
            });
        }
        let (train, valid) = self.positions.split_at(available - n_valid);
        Ok((self.view(train.into()), self.view(valid.into())))
    }

    /// The first `n` examples (all of them if fewer): a small slice for quick runs and tests.
    pub fn take(self, n: usize) -> Self {
        let n = n.min(self.len());
        self.view(self.positions[..n].into())
    }

    /// A labelled subset with classes as even as possible: the first `n / 10` examples of each
    /// class (one more for the first `n % 10` classes), in their order in this set; classes with
    /// too few examples give all they have.
    pub fn balanced(self, n: usize) -> Self {
        let mut wanted: [usize; N_CLASSES] =
            std::array::from_fn(|c| n / N_CLASSES + usize::from(c < n % N_CLASSES));
        let positions: Vec<usize> = self
            .positions
            .iter()
            .copied()
            .filter(|&at| {
                let class = self.data.labels[at] as usize;
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
    /// [`DataError::DifferentSources`] unless both are views of one loaded split.
    pub fn join(self, other: &Self) -> Result<Self> {
        if !Arc::ptr_eq(&self.data, &other.data) {
            return Err(DataError::DifferentSources {
                first: self.data.images_path.clone(),
                second: other.data.images_path.clone(),
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

    /// The same data seen through other positions.
    fn view(&self, positions: Arc<[usize]>) -> Self {
        Self {
            data: Arc::clone(&self.data),
            positions,
        }
    }

    /// Rows per image (28 for MNIST).
    pub fn rows(&self) -> usize {
        self.data.rows
    }

    /// Columns per image (28 for MNIST).
    pub fn cols(&self) -> usize {
        self.data.cols
    }

    /// Pixels per image, `rows * cols` (784 for MNIST): the visible layer's size.
    pub fn n_pixels(&self) -> usize {
        self.data.rows * self.data.cols
    }

    /// The image file this set was read from.
    pub fn images_path(&self) -> &Path {
        &self.data.images_path
    }

    /// Grey levels of example `i` of this set, `[rows * cols]`; `None` past the end.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let at = self.absolute(i)?;
        let n = self.n_pixels();
        Some(&self.data.pixels[at * n..(at + 1) * n])
    }

    /// Label of example `i` of this set; `None` past the end.
    pub fn label(&self, i: usize) -> Option<u8> {
        Some(self.data.labels[self.absolute(i)?])
    }

    /// Number of examples of each class.
    pub fn label_counts(&self) -> [usize; N_CLASSES] {
        let mut counts = [0; N_CLASSES];
        for &at in self.positions.iter() {
            counts[self.data.labels[at] as usize] += 1;
        }
        counts
    }

    /// Position in the split's file of example `i` of this view.
    fn absolute(&self, i: usize) -> Option<usize> {
        self.positions.get(i).copied()
    }
}

impl Dataset<MnistItem> for MnistDataset {
    fn get(&self, index: usize) -> Option<MnistItem> {
        Some(MnistItem {
            index: self.absolute(index)?,
            image: self.image(index)?.to_vec(),
            label: self.label(index)?,
        })
    }

    fn len(&self) -> usize {
        self.positions.len()
    }
}

/// The three sets a run needs: training, validation (held out from the training split) and test.
#[derive(Clone, Debug)]
pub struct MnistSplits {
    /// The training split less its last `n_valid` examples.
    pub train: MnistDataset,
    /// The last `n_valid` examples of the training split.
    pub valid: MnistDataset,
    /// The test split.
    pub test: MnistDataset,
}

impl MnistSplits {
    /// Loads both splits of `dir` and holds out the last `n_valid` training examples
    /// ([`DEFAULT_VALIDATION`] is customary).
    ///
    /// # Errors
    /// Any error of [`MnistDataset::load`] and [`MnistDataset::split_validation`], and
    /// [`DataError::ImageSizeMismatch`] when the two splits' images differ in size.
    pub fn load(dir: impl AsRef<Path>, n_valid: usize) -> Result<Self> {
        let dir = dir.as_ref();
        let full_train = MnistDataset::load(dir, Split::Train)?;
        let test = MnistDataset::load(dir, Split::Test)?;
        let (train_size, test_size) = (
            (full_train.rows(), full_train.cols()),
            (test.rows(), test.cols()),
        );
        if train_size != test_size {
            return Err(DataError::ImageSizeMismatch {
                train: full_train.images_path().to_path_buf(),
                train_size,
                test: test.images_path().to_path_buf(),
                test_size,
            });
        }
        let (train, valid) = full_train.split_validation(n_valid)?;
        Ok(Self { train, valid, test })
    }
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
        let set = MnistDataset::load(dir.path(), Split::Train).unwrap();
        assert_eq!(
            (set.len(), set.rows(), set.cols(), set.n_pixels()),
            (10, 2, 3, 6)
        );
        let item = set.get(4).unwrap();
        assert_eq!(
            item,
            MnistItem {
                index: 4,
                image: vec![4; 6],
                label: 4
            }
        );
        assert!(set.get(10).is_none());
    }

    #[test]
    fn validation_is_the_last_n_and_views_keep_file_indices() {
        let dir = tiny_folder();
        let set = MnistDataset::load(dir.path(), Split::Train).unwrap();
        let (train, valid) = set.split_validation(3).unwrap();
        assert_eq!((train.len(), valid.len()), (7, 3));
        assert_eq!(valid.get(0).unwrap().index, 7);
        assert_eq!(valid.get(2).unwrap().image, vec![9; 6]);
        assert!(valid.get(3).is_none());
        assert_eq!(train.label_counts(), [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
        assert_eq!(valid.label_counts(), [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
        let head = train.take(2);
        assert_eq!(head.len(), 2);
        assert_eq!(head.get(1).unwrap().label, 1);
    }

    #[test]
    fn joining_a_split_with_its_validation_makes_it_whole_and_other_files_are_refused() {
        let dir = tiny_folder();
        let set = MnistDataset::load(dir.path(), Split::Train).unwrap();
        let (train, valid) = set.split_validation(3).unwrap();
        let whole = train.take(4).join(&valid).unwrap();
        let indices: Vec<usize> = (0..whole.len())
            .map(|i| whole.get(i).unwrap().index)
            .collect();
        assert_eq!(indices, [0, 1, 2, 3, 7, 8, 9]);
        let test = MnistDataset::load(dir.path(), Split::Test).unwrap();
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
        let set = MnistDataset::load(dir.path(), Split::Train).unwrap();
        let subset = set.clone().balanced(23);
        assert_eq!(subset.label_counts(), [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]);
        let positions: Vec<usize> = subset.iter().map(|item| item.index).collect();
        assert_eq!(&positions[..12], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(set.balanced(100).len(), 30, "classes give all they have");
    }

    #[test]
    fn a_split_must_leave_training_examples() {
        let dir = tiny_folder();
        let set = MnistDataset::load(dir.path(), Split::Test).unwrap();
        let err = set.split_validation(3).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::InvalidSplit {
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
        let splits = MnistSplits::load(dir.path(), 2).unwrap();
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
        let err = MnistDataset::load(dir.path(), Split::Train).unwrap_err();
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
        let err = MnistSplits::load(dir.path(), 1).unwrap_err();
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
        let test = MnistDataset::load(dir.path(), Split::Test).unwrap();
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
        let err = MnistSplits::load(dir.path(), 1).unwrap_err();
        assert!(
            matches!(err, DataError::ImageSizeMismatch { .. }),
            "{err:?}"
        );
    }
}
