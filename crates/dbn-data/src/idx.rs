//! The IDX format of MNIST: a big-endian header, then unsigned bytes, row-major.
//!
//! ```text
//! magic: 0x00 0x00 0x08 n_dims   (0x08: unsigned byte data)
//! dims:  n_dims big-endian u32s  (images: count, rows, cols; labels: count)
//! data:  product(dims) bytes
//! ```
//!
//! A file may be raw or gzipped; which one is decided by its first two bytes (the gzip magic
//! `1f 8b`), never by its name. Every check (magic, dimensions, exact byte length, label range)
//! runs before any data is handed out: a bad file yields a [`DataError`] naming it, never a
//! panic or a partial result. A header that claims more data than the file holds is caught
//! without allocating what it claims.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::GzDecoder;

use crate::error::{DataError, Result};

/// Magic number of an IDX file of unsigned-byte images: `[count, rows, cols]`.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels: `[count]`.
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Largest buffer reserved up front from a header's claim; data beyond it must actually
/// arrive before memory is grown for it. Covers the 47 MB of MNIST's training images.
const RESERVE_LIMIT: usize = 64 << 20;

/// A stack of greyscale images decoded from an IDX file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count * rows * cols` grey levels 0..=255, image after image, each row-major.
    pub pixels: Vec<u8>,
}

/// Reads an IDX image file (raw or gzipped).
///
/// # Errors
/// [`DataError::Missing`] or [`DataError::Io`] if it cannot be opened, and every format error of
/// [`parse_images`].
pub fn read_images(path: &Path) -> Result<IdxImages> {
    parse_images(open(path)?, path)
}

/// Reads an IDX label file (raw or gzipped); every label must be a digit class 0..=9.
///
/// # Errors
/// [`DataError::Missing`] or [`DataError::Io`] if it cannot be opened, and every format error of
/// [`parse_labels`].
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    parse_labels(open(path)?, path)
}

/// Decodes IDX images from any buffered reader; `path` is only used to name errors.
///
/// # Errors
/// [`DataError::BadMagic`] unless the magic is [`IMAGES_MAGIC`], [`DataError::BadDimensions`]
/// for zero-sized images or an overflowing size, [`DataError::Truncated`] /
/// [`DataError::TrailingData`] when the length disagrees with the header, [`DataError::Gzip`]
/// for a corrupt gzip stream.
pub fn parse_images(reader: impl BufRead, path: &Path) -> Result<IdxImages> {
    let (dims, pixels) = decode(
        reader,
        path,
        IMAGES_MAGIC,
        "IDX images: u8 data, 3 dimensions",
    )?;
    let [count, rows, cols] = [dims[0], dims[1], dims[2]].map(|d| d as usize);
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels,
    })
}

/// Decodes IDX labels from any buffered reader; `path` is only used to name errors.
///
/// # Errors
/// As [`parse_images`] (with [`LABELS_MAGIC`]), and [`DataError::LabelOutOfRange`] for the
/// first label above 9.
pub fn parse_labels(reader: impl BufRead, path: &Path) -> Result<Vec<u8>> {
    let (_, labels) = decode(
        reader,
        path,
        LABELS_MAGIC,
        "IDX labels: u8 data, 1 dimension",
    )?;
    match labels.iter().position(|&label| label > 9) {
        Some(index) => Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            label: labels[index],
        }),
        None => Ok(labels),
    }
}

/// Opens a file for buffered reading, mapping "not found" to [`DataError::Missing`].
fn open(path: &Path) -> Result<BufReader<File>> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => DataError::Missing {
                path: path.to_path_buf(),
            },
            _ => DataError::Io {
                path: path.to_path_buf(),
                source,
            },
        })
}

/// Where the bytes come from: errors inside a gzip stream are reported as such.
enum Source<R: BufRead> {
    Raw(R),
    Gzip(GzDecoder<R>),
}

impl<R: BufRead> Source<R> {
    /// Chooses raw or gzip from the first two bytes of `reader`, without consuming them.
    fn sniff(mut reader: R, path: &Path) -> Result<Self> {
        let head = reader.fill_buf().map_err(|source| io_error(path, source))?;
        Ok(if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip(GzDecoder::new(reader))
        } else {
            Self::Raw(reader)
        })
    }

    fn is_gzip(&self) -> bool {
        matches!(self, Self::Gzip(_))
    }
}

impl<R: BufRead> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Raw(reader) => reader.read(buf),
            Self::Gzip(reader) => reader.read(buf),
        }
    }
}

/// Reads and checks header and data; returns the dimensions and exactly `product(dims)` bytes.
fn decode(
    reader: impl BufRead,
    path: &Path,
    magic: u32,
    what: &'static str,
) -> Result<(Vec<u32>, Vec<u8>)> {
    let mut source = Source::sniff(reader, path)?;
    let n_dims = (magic & 0xff) as usize;
    let found = read_u32(&mut source, path, 0)?;
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
            what,
        });
    }
    let dims = (0..n_dims)
        .map(|i| read_u32(&mut source, path, 4 + 4 * i as u64))
        .collect::<Result<Vec<u32>>>()?;
    let len = data_len(&dims, path)?;
    let header_len = 4 + 4 * n_dims as u64;
    let data = read_exact_len(&mut source, path, header_len, len)?;
    Ok((dims, data))
}

/// Number of data bytes the dimensions promise, rejecting empty images and overflow.
fn data_len(dims: &[u32], path: &Path) -> Result<usize> {
    let bad = |reason| DataError::BadDimensions {
        path: path.to_path_buf(),
        dims: dims.to_vec(),
        reason,
    };
    if dims[1..].contains(&0) {
        return Err(bad("images must have at least one row and one column"));
    }
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
        .ok_or_else(|| bad("the data size overflows this machine's address space"))
}

/// Reads one big-endian u32 of the header; `offset` (header bytes already read) names truncation.
fn read_u32<R: BufRead>(source: &mut Source<R>, path: &Path, offset: u64) -> Result<u32> {
    let mut bytes = [0u8; 4];
    let mut filled = 0;
    while filled < 4 {
        match source.read(&mut bytes[filled..]) {
            Ok(0) => {
                return Err(DataError::Truncated {
                    path: path.to_path_buf(),
                    expected: offset + 4,
                    found: offset + filled as u64,
                });
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(read_error(
                    source,
                    path,
                    e,
                    offset + 4,
                    offset + filled as u64,
                ));
            }
        }
    }
    Ok(u32::from_be_bytes(bytes))
}

/// Reads exactly `len` data bytes following a `header_len`-byte header, and checks that nothing
/// follows them.
///
/// Memory grows with the bytes that actually arrive (beyond [`RESERVE_LIMIT`]), so a header
/// that lies about the size cannot make this allocate what it claims.
fn read_exact_len<R: BufRead>(
    source: &mut Source<R>,
    path: &Path,
    header_len: u64,
    len: usize,
) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(len.min(RESERVE_LIMIT));
    let read = source.by_ref().take(len as u64).read_to_end(&mut data);
    let expected = header_len + len as u64;
    let found = header_len + data.len() as u64;
    if let Err(e) = read {
        return Err(read_error(source, path, e, expected, found));
    }
    if data.len() < len {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected,
            found,
        });
    }
    let mut extra = [0u8; 1];
    match source.read(&mut extra) {
        Ok(0) => Ok(data),
        Ok(_) => Err(DataError::TrailingData {
            path: path.to_path_buf(),
            expected,
        }),
        Err(e) => Err(read_error(source, path, e, expected, found)),
    }
}

/// Classifies a read error: a gzip stream that ends early is truncation, other gzip errors are
/// corruption, anything else is I/O.
fn read_error<R: BufRead>(
    source: &Source<R>,
    path: &Path,
    error: io::Error,
    expected: u64,
    found: u64,
) -> DataError {
    match (source.is_gzip(), error.kind()) {
        (_, io::ErrorKind::UnexpectedEof) => DataError::Truncated {
            path: path.to_path_buf(),
            expected,
            found,
        },
        (true, _) => DataError::Gzip {
            path: path.to_path_buf(),
            source: error,
        },
        (false, _) => io_error(path, error),
    }
}

fn io_error(path: &Path, source: io::Error) -> DataError {
    DataError::Io {
        path: PathBuf::from(path),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn path() -> &'static Path {
        Path::new("test.idx")
    }

    /// An IDX image file of `count` images of `rows x cols`, pixel i = i mod 256.
    fn image_bytes(count: u32, rows: u32, cols: u32) -> Vec<u8> {
        let mut bytes = IMAGES_MAGIC.to_be_bytes().to_vec();
        for d in [count, rows, cols] {
            bytes.extend(d.to_be_bytes());
        }
        bytes.extend((0..count * rows * cols).map(|i| i as u8));
        bytes
    }

    fn label_bytes(labels: &[u8]) -> Vec<u8> {
        let mut bytes = LABELS_MAGIC.to_be_bytes().to_vec();
        bytes.extend((labels.len() as u32).to_be_bytes());
        bytes.extend(labels);
        bytes
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn raw_and_gzipped_images_decode_identically() {
        let raw = image_bytes(3, 2, 5);
        let expected = IdxImages {
            count: 3,
            rows: 2,
            cols: 5,
            pixels: (0..30).collect(),
        };
        assert_eq!(parse_images(&raw[..], path()).unwrap(), expected);
        assert_eq!(parse_images(&gzip(&raw)[..], path()).unwrap(), expected);
    }

    #[test]
    fn labels_decode_and_are_range_checked() {
        let labels = [0, 9, 3, 3];
        assert_eq!(
            parse_labels(&label_bytes(&labels)[..], path()).unwrap(),
            labels
        );
        let err = parse_labels(&gzip(&label_bytes(&[1, 2, 10, 4]))[..], path()).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::LabelOutOfRange {
                    index: 2,
                    label: 10,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn wrong_magic_names_both_numbers() {
        // A label file read as images.
        let err = parse_images(&label_bytes(&[1, 2])[..], path()).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::BadMagic {
                    found: LABELS_MAGIC,
                    expected: IMAGES_MAGIC,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("0x00000801"), "{err}");
        assert!(
            err.to_string().starts_with("test.idx: wrong magic"),
            "{err}"
        );
        // A float-typed IDX file (type 0x0d).
        let mut bytes = image_bytes(1, 1, 1);
        bytes[2] = 0x0d;
        let err = parse_images(&bytes[..], path()).unwrap_err();
        assert!(
            matches!(err, DataError::BadMagic { found: 0x0d03, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn truncated_data_is_caught_raw_and_gzipped() {
        let mut raw = image_bytes(2, 3, 3);
        raw.truncate(raw.len() - 5);
        for bytes in [raw.clone(), gzip(&raw)] {
            let err = parse_images(&bytes[..], path()).unwrap_err();
            assert!(
                matches!(
                    err,
                    DataError::Truncated {
                        expected: 34,
                        found: 29,
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }

    #[test]
    fn truncated_header_is_caught() {
        let raw = image_bytes(2, 3, 3);
        let err = parse_images(&raw[..10], path()).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 12,
                    found: 10,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = parse_images(&[][..], path()).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 4,
                    found: 0,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_cut_gzip_stream_is_truncation() {
        let compressed = gzip(&image_bytes(50, 28, 28));
        let cut = &compressed[..compressed.len() / 2];
        let err = parse_images(cut, path()).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 39216,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn corrupt_gzip_is_its_own_error() {
        let mut compressed = gzip(&image_bytes(4, 28, 28));
        // Flip the block-type bits of the first deflate block (byte 10): reserved type 3.
        compressed[10] |= 0b110;
        let err = parse_images(&compressed[..], path()).unwrap_err();
        assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    }

    #[test]
    fn trailing_data_is_caught() {
        let mut raw = image_bytes(2, 2, 2);
        raw.push(7);
        let err = parse_images(&raw[..], path()).unwrap_err();
        assert!(
            matches!(err, DataError::TrailingData { expected: 24, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn zero_sized_images_are_rejected() {
        let err = parse_images(&image_bytes(5, 0, 28)[..], path()).unwrap_err();
        assert!(matches!(err, DataError::BadDimensions { .. }), "{err:?}");
    }

    #[test]
    fn a_header_claiming_billions_of_images_allocates_nothing_of_the_sort() {
        // 4e9 images of 28x28 claimed, 10 bytes present: must fail fast as truncation.
        let mut bytes = image_bytes(0, 28, 28);
        bytes[4..8].copy_from_slice(&4_000_000_000u32.to_be_bytes());
        bytes.extend([0u8; 10]);
        let err = parse_images(&bytes[..], path()).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 3_136_000_000_016,
                    found: 26,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn missing_file_is_named() {
        let err = read_images(Path::new("/nonexistent/train-images-idx3-ubyte")).unwrap_err();
        assert!(matches!(err, DataError::Missing { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("/nonexistent/train-images-idx3-ubyte"),
            "{err}"
        );
    }
}
