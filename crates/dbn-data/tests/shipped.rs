//! The data that ships with the repository, and Fashion-MNIST from its Debian package.

use std::path::Path;

use burn::data::dataset::Dataset;
use dbn_data::{DEFAULT_VALIDATION, ExampleSet, Split, Splits, shipped_mnist_dir};
use sha2::{Digest, Sha256};

/// Published MNIST label counts (LeCun et al.), classes 0..=9.
const MNIST_TRAIN_COUNTS: [usize; 10] =
    [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
const MNIST_TEST_COUNTS: [usize; 10] = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

/// Where Debian's `dataset-fashion-mnist` package puts Fashion-MNIST.
const FASHION_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The SHA-256 of `bytes` in hex, as `sha256sum` prints it.
fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn shipped_files_match_their_sha256sums() {
    let dir = shipped_mnist_dir();
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let mut checked = 0;
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (expected, name) = line.split_once("  ").expect("sha256sum format: HASH  NAME");
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(sha256(&bytes), expected, "{name} does not match SHA256SUMS");
        checked += 1;
    }
    assert_eq!(checked, 4, "SHA256SUMS must cover the four MNIST files");
}

#[test]
fn shipped_mnist_has_the_published_sizes_and_label_counts() {
    let splits = Splits::load(shipped_mnist_dir(), DEFAULT_VALIDATION).unwrap();
    assert_eq!(
        (splits.train.len(), splits.valid.len(), splits.test.len()),
        (50_000, 10_000, 10_000)
    );
    assert_eq!(splits.test.image_shape(), Some([28, 28]));
    let train_counts: Vec<usize> = (0..10)
        .map(|c| splits.train.label_counts()[c] + splits.valid.label_counts()[c])
        .collect();
    assert_eq!(train_counts, MNIST_TRAIN_COUNTS);
    assert_eq!(splits.test.label_counts(), MNIST_TEST_COUNTS);
    assert_eq!(splits.n_classes(), 10);
    // The validation split is the last 10,000 training images of the file.
    let first_valid = splits.valid.get(0).unwrap();
    assert_eq!(first_valid.index, 50_000);
    // The first training image is a 5 (the well-known first MNIST digit).
    assert_eq!(splits.train.get(0).unwrap().label, Some(5));
}

#[test]
fn fashion_mnist_loads_from_its_debian_package() {
    if !Path::new(FASHION_DIR).is_dir() {
        // CI installs the package (.ci/run) and sets CI: there, absence is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "{FASHION_DIR} is missing: apt-get install dataset-fashion-mnist"
        );
        eprintln!("skipped: {FASHION_DIR} is missing (apt-get install dataset-fashion-mnist)");
        return;
    }
    let train = ExampleSet::load(FASHION_DIR, Split::Train).unwrap();
    let test = ExampleSet::load(FASHION_DIR, Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(train.width(), 784);
    assert_eq!(train.label_counts(), [6000; 10]);
    assert_eq!(test.label_counts(), [1000; 10]);
}

#[test]
fn the_shipped_table_matches_its_sha256sums_and_its_description() {
    let dir = shipped_mnist_dir().parent().unwrap().join("wdbc");
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let (expected, name) = sums.trim().split_once("  ").expect("HASH  NAME");
    let bytes = std::fs::read(dir.join(name)).unwrap();
    assert_eq!(sha256(&bytes), expected, "{name} does not match SHA256SUMS");
    let options = dbn_data::TableOptions {
        label_column: Some("benign".into()),
        ..Default::default()
    };
    let table = dbn_data::read_table(&dir.join(name), &options).unwrap();
    assert_eq!((table.rows, table.cols), (569, 30), "data/wdbc/README.md");
    let benign = table.labels.unwrap().iter().filter(|&&l| l == 1).count();
    assert_eq!(benign, 357);
}
