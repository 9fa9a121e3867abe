//! Examples as a table of numbers, from the files people have: CSV, NumPy `.npy` and `.npz`,
//! and IDX images; and the table written back as `.npy` or CSV, for numpy and scikit-learn.
//!
//! Every value is checked as it is read: a cell that is not a number, a NaN or an infinity, a
//! label that is neither a whole number of at least 0 nor (in a CSV column or an `.npz` array
//! of names) a class name, rows of different lengths, features and labels of different counts,
//! each refused with a [`DataError`] naming the file and the line (CSV, counted from 1 as an
//! editor shows it, the header included) or row (NumPy, from 0) and the column.
//!
//! | file | features | labels |
//! | --- | --- | --- |
//! | `.csv` (header optional: a first line of which no cell is a number) | every column but the label column | the column named by [`TableOptions::label_column`] (its header name or its index from 0), if any: class indices, or class names (`setosa`, `M`), numbered in sorted order |
//! | `.npy` | `[n]`, `[n, d]` or `[n, h, w]` (images) of `float32`, `float64`, other integers taken as they are, or `uint8` (grey levels, divided by 255) | none |
//! | `.npz` | the array `x` (or `X`, `data`, `features`, `images`), as `.npy` | the array `y` (or `labels`, `targets`), if any: class indices (integers), or class names (strings, `np.str_` or bytes), numbered as a CSV column's |
//! | IDX (`*-idx3-ubyte`, optionally gzipped) | the images, grey levels divided by 255 | none |

use std::collections::HashMap;
use std::io::BufReader;
use std::path::Path;

use npyz::{DType, NpyFile, TypeChar, WriterBuilder};

use crate::error::{DataError, Result};
use crate::idx::read_images;

/// Examples as rows of numbers, with a class per row when the source has labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Number of examples.
    pub rows: usize,
    /// Features per example.
    pub cols: usize,
    /// `rows * cols` values, row after row.
    pub values: Vec<f32>,
    /// One class index per row, when the file has labels.
    pub labels: Option<Vec<usize>>,
    /// The classes' names in class order, when a CSV label column or an `.npz` labels array
    /// holds names (`setosa`, `M`) rather than class indices: label `k` is `classes[k]`.
    /// Empty otherwise.
    pub classes: Vec<String>,
    /// `[height, width]` when each example is an image (IDX, or a `[n, h, w]` array).
    pub image: Option<[usize; 2]>,
    /// Whether the values are 8-bit grey levels divided by 255 as they were read (IDX images,
    /// `uint8` arrays).
    pub grey_levels: bool,
    /// The features' names: a CSV file's header (the label column left out); empty otherwise.
    pub names: Vec<String>,
}

/// How a table file is read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// The CSV column of each row's class: its header name, or its index from 0; `None` for
    /// unlabelled data.
    pub label_column: Option<String>,
    /// Class names already known (a training file's, a model's): a label column (or an `.npz`
    /// labels array) of names is read onto these, and a name not among them is an error.
    /// Empty: a column of names gives its own, sorted.
    pub classes: Vec<String>,
}

/// Arrays of an `.npz` archive taken as the features, in order of preference.
const FEATURE_ARRAYS: [&str; 6] = ["x", "X", "data", "features", "images", "inputs"];
/// Arrays of an `.npz` archive taken as the labels, in order of preference.
const LABEL_ARRAYS: [&str; 6] = ["y", "Y", "labels", "label", "targets", "target"];

/// Reads the table in `path`, by its name: `.csv`, `.npy`, `.npz`, or an IDX image file (a name
/// containing `idx3`, or ending in `ubyte`, gzipped or not).
///
/// # Errors
/// [`DataError::BadTable`] for a file of another kind, a label column asked of a file without
/// labels, labels as class indices where `options` names the classes, and the errors of
/// [`read_csv`], [`read_npy`], [`read_npz`] and [`read_images`].
pub fn read_table(path: &Path, options: &TableOptions) -> Result<Table> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let gzipped = name.ends_with(".gz");
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let idx = name.contains("idx3") || name.ends_with("ubyte");
    if gzipped && !idx {
        return Err(bad_table(
            path,
            "only IDX files are read gzipped: decompress it first (gunzip)",
        ));
    }
    if name.ends_with(".csv") {
        return read_csv(path, options);
    }
    let table = if name.ends_with(".npy") {
        read_npy(path)?
    } else if name.ends_with(".npz") {
        read_npz(path, options)?
    } else if idx {
        let images = read_images(path)?;
        if images.count == 0 {
            return Err(bad_table(path, "no images"));
        }
        Table {
            rows: images.count,
            cols: images.rows * images.cols,
            values: images
                .pixels
                .iter()
                .map(|&p| f32::from(p) / 255.0)
                .collect(),
            labels: None,
            classes: Vec::new(),
            image: Some([images.rows, images.cols]),
            grey_levels: true,
            names: Vec::new(),
        }
    } else {
        return Err(bad_table(
            path,
            "not a table file this reader knows: name it .csv, .npy or .npz, or give an IDX \
             image file (*-idx3-ubyte, optionally .gz)",
        ));
    };
    match (&table.labels, &options.label_column) {
        // An .npz's labels array serves where a CSV's column is asked for (a test file of
        // another kind than the training file, say).
        (None, Some(column)) => Err(bad_table(
            path,
            format!(
                "a label column ({column:?}) is a CSV file's, and this file holds no labels (an \
                 .npz archive gives them as an array, y)"
            ),
        )),
        _ => Ok(table),
    }
}

/// A [`DataError::BadTable`] of `path`.
fn bad_table(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::BadTable {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A [`DataError::BadCell`] of `path` at `at`.
fn bad_cell(path: &Path, at: String, reason: impl Into<String>) -> DataError {
    DataError::BadCell {
        path: path.to_path_buf(),
        at,
        reason: reason.into(),
    }
}

/// `text` as a feature's value ([`feature`]), or why not: a missing value ([`MISSING`], an
/// empty cell) is told as one.
fn number(text: &str) -> std::result::Result<f64, String> {
    if text.trim().is_empty() || MISSING.contains(&text.trim()) {
        return Err(missing_feature(format!("{text:?}")));
    }
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    feature(value, text)
}

/// A feature's `value`, shown as `shown`, when it is finite as an `f32`, or why not: NaN, as
/// numpy and pandas write a missing value, is told as one.
fn feature(value: f64, shown: impl std::fmt::Display) -> std::result::Result<f64, String> {
    match value.is_nan() {
        true => Err(missing_feature(shown)),
        false => finite(value, shown),
    }
}

/// Why a feature's missing value, shown as `shown`, is refused, and what to do.
fn missing_feature(shown: impl std::fmt::Display) -> String {
    format!(
        "{shown} reads as a missing value: every feature must be a number; fill the missing \
         values (with the column's mean, say) or drop their rows"
    )
}

/// `value` when it is finite as an `f32` (a feature's type), or why not, naming it as `shown`.
fn finite(value: f64, shown: impl std::fmt::Display) -> std::result::Result<f64, String> {
    if (value as f32).is_finite() {
        Ok(value)
    } else if value.is_finite() {
        Err(format!("{shown} is beyond the range of float32"))
    } else {
        Err(format!("{shown} is not a finite number"))
    }
}

/// The separator of a semicolon- or tab-separated file's first line, which a comma-separated
/// reader sees in its cells (in one cell, or in several where decimal commas split it).
fn other_separator(first: &csv::StringRecord) -> Option<char> {
    [';', '\t']
        .into_iter()
        .find(|&c| first.iter().any(|cell| cell.contains(c)))
}

/// Whether the first line of a CSV file is a header: every cell not a number (names), or the
/// column numbers `0,1,…` that pandas writes for unnamed columns. A line of numbers with one
/// bad cell is an example, refused at that cell.
fn is_header(first: &csv::StringRecord) -> bool {
    first.iter().all(|cell| cell.parse::<f64>().is_err())
        || (first.len() > 1
            && first
                .iter()
                .enumerate()
                .all(|(i, cell)| cell == i.to_string()))
}

/// The most classes a label column may name: labels run from 0 to one less. A larger label is
/// more likely an identifier than a class, and would size every per-class table by it.
pub const MAX_CLASSES: usize = 65_536;

/// `value` as a class index, or why not.
fn class(value: f64) -> std::result::Result<usize, String> {
    if value.is_nan() {
        return Err(
            "label NaN reads as a missing value: every example needs its class; drop \
                    the unlabelled rows"
                .into(),
        );
    }
    if value.is_infinite() {
        return Err(format!(
            "label {value} is not a class index (a whole number of at least 0)"
        ));
    }
    if value.fract() != 0.0 {
        return Err(format!(
            "label {value} is not a class index (a whole number of at least 0): the label \
             column holds each example's class, and a column of measurements is a regression \
             target, which a classifier does not fit"
        ));
    }
    if value < 0.0 {
        return Err(format!(
            "label {value} is not a class index: class indices run from 0 (renumber labels \
             such as -1 and 1 as 0 and 1, or name the classes: neg, pos)"
        ));
    }
    if value >= MAX_CLASSES as f64 {
        return Err(format!(
            "label {value} is not a class index: classes run from 0 to at most {} (is this \
             column an identifier?)",
            MAX_CLASSES - 1
        ));
    }
    Ok(value as usize)
}

/// Why labels given as class indices are refused where the classes are `named`: `what` holds
/// indices, which could only be matched to the names by guessing the order.
fn indices_for_names(named: &[String], what: &str) -> String {
    format!(
        "{what}, but the classes are named ({}): give each example's class by its name",
        shown(named)
    )
}

/// Class `k` as a person reads it: its name where the classes are `named`, else its index.
pub fn class_name(named: &[String], k: usize) -> String {
    named.get(k).cloned().unwrap_or_else(|| k.to_string())
}

/// At most eight of `names`, comma-separated, and how many more.
pub fn shown(names: &[String]) -> String {
    let list = names[..names.len().min(8)].join(", ");
    match names.len() {
        n if n > 8 => format!("{list} and {} more", n - 8),
        _ => list,
    }
}

/// Cells that R, UCI's files, databases, pandas and numpy write for a missing value (numpy's
/// `str` of None and NaN among them): in a column of class names they would silently become a
/// class of their own, and among the features they are refused as missing values.
const MISSING: [&str; 9] = [
    "NA", "N/A", "n/a", "?", "null", "NULL", "None", "nan", "NaN",
];

/// A label column (a CSV file's, or an `.npz` labels array of strings) as it is read, cell by
/// cell: class indices (whole numbers from 0), or class names, whichever its first cell is;
/// names are read onto the classes already known or, where none are, gathered and sorted when
/// the column ends.
struct LabelColumn<'a> {
    /// Classes already known ([`TableOptions::classes`]).
    known: &'a [String],
    /// Whether the cells are names; decided by the first.
    named: Option<bool>,
    /// Each name's class: its place in `known`, or where none are known, its place in `seen`.
    classes: HashMap<String, usize>,
    /// The names in the order they first appeared, when none are known.
    seen: Vec<String>,
    /// Each row's class so far.
    labels: Vec<usize>,
}

impl<'a> LabelColumn<'a> {
    fn new(known: &'a [String]) -> Self {
        Self {
            known,
            named: None,
            classes: known.iter().cloned().zip(0..).collect(),
            seen: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// Reads the label `cell` of the next row, or says why it is not one.
    fn push(&mut self, cell: &str) -> std::result::Result<(), String> {
        // Told apart before the kinds: "nan" would read as a number, "NA" as a name.
        if cell.is_empty() {
            return Err("no label (an empty cell)".into());
        }
        if MISSING.contains(&cell) {
            return Err(format!(
                "label {cell:?} reads as a missing value, not a class: give every example its \
                 class, or leave the example out"
            ));
        }
        let parsed = cell.parse::<f64>().ok();
        let named = *self.named.get_or_insert(parsed.is_none());
        let class = match (named, parsed) {
            (false, Some(_)) if !self.known.is_empty() => Err(indices_for_names(
                self.known,
                &format!("label {cell} is a class index"),
            )),
            (false, Some(value)) => finite(value, cell).and_then(class),
            (false, None) => Err(format!(
                "label {cell:?} is not a number, but the labels above are class indices; a \
                 label column holds class indices or class names, not both"
            )),
            (true, Some(_)) => Err(format!(
                "label {cell} is a number, but the labels above are class names; a label \
                 column holds class indices or class names, not both"
            )),
            (true, None) => self.name(cell),
        }?;
        self.labels.push(class);
        Ok(())
    }

    /// The class of the name `cell`.
    fn name(&mut self, cell: &str) -> std::result::Result<usize, String> {
        if let Some(&class) = self.classes.get(cell) {
            return Ok(class);
        }
        if !self.known.is_empty() {
            return Err(format!(
                "class {cell:?} is not one of the training data's: {}",
                shown(self.known)
            ));
        }
        if self.seen.len() == MAX_CLASSES {
            return Err(format!(
                "a class name beyond the {MAX_CLASSES} before it (is this column an \
                 identifier?)"
            ));
        }
        self.classes.insert(cell.to_string(), self.seen.len());
        self.seen.push(cell.to_string());
        Ok(self.seen.len() - 1)
    }

    /// Each row's class and the classes' names (empty for class indices): names gathered here
    /// sorted, so that one set of names gives one numbering whatever the rows' order.
    fn finish(self) -> (Vec<usize>, Vec<String>) {
        if self.named != Some(true) {
            return (self.labels, Vec::new());
        }
        if !self.known.is_empty() {
            return (self.labels, self.known.to_vec());
        }
        let mut order: Vec<usize> = (0..self.seen.len()).collect();
        order.sort_by(|&a, &b| self.seen[a].cmp(&self.seen[b]));
        let mut class = vec![0; order.len()];
        for (sorted, &first_seen) in order.iter().enumerate() {
            class[first_seen] = sorted;
        }
        let labels = self.labels.iter().map(|&l| class[l]).collect();
        let names = order.into_iter().map(|i| self.seen[i].clone()).collect();
        (labels, names)
    }
}

/// Reads a CSV file: a header if no cell of its first line is a number, then one
/// example per line; the column [`TableOptions::label_column`] (a header name, or an index
/// from 0), if given, holds each example's class: class indices (whole numbers from 0), or
/// class names, numbered in sorted order or as [`TableOptions::classes`] gives them.
///
/// # Errors
/// [`DataError::Io`] if it cannot be read; [`DataError::BadTable`] for no examples, a label
/// column it does not have, or lines of different lengths; [`DataError::BadCell`] for a cell
/// that is not a finite number, a label that is not a class index in a column of them, a
/// number or an empty cell in a column of names, a name not among the known classes, or a
/// class index where the known classes are named.
pub fn read_csv(path: &Path, options: &TableOptions) -> Result<Table> {
    let io = |e: std::io::Error| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    // The line a record starts on, counted from 1: the reader skips blank lines, so its own
    // count of records is not the line number an editor shows.
    let mut counted = (0usize, 1usize); // (byte, line) counted up to
    let mut line_at = |mut byte: usize| {
        // The position may be that of blank lines skipped before the record.
        while bytes.get(byte).is_some_and(|b| matches!(b, b'\n' | b'\r')) {
            byte += 1;
        }
        let (from, line) = counted;
        let line = line + bytes[from..byte].iter().filter(|&&b| b == b'\n').count();
        counted = (byte, line);
        line
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(&bytes[..]);
    let mut records = reader.records();
    let mut next = |line: usize| -> Result<Option<csv::StringRecord>> {
        records
            .next()
            .transpose()
            .map_err(|e| bad_table(path, format!("line {line}: not valid CSV: {e}")))
    };
    let Some(first) = next(1)? else {
        return Err(bad_table(path, "no rows"));
    };
    if let Some(separator) = other_separator(&first) {
        return Err(bad_table(
            path,
            format!(
                "line 1 holds {separator:?}: only commas separate columns here; write the file \
                 with commas (and decimal points)"
            ),
        ));
    }
    let has_header = is_header(&first);
    let header: Vec<String> = if has_header {
        first.iter().map(str::to_string).collect()
    } else {
        (0..first.len()).map(|i| i.to_string()).collect()
    };
    let width = header.len();
    let label = options
        .label_column
        .as_deref()
        .map(|wanted| {
            header
                .iter()
                .position(|name| name == wanted)
                .or_else(|| wanted.parse::<usize>().ok().filter(|&i| i < width))
                .ok_or_else(|| {
                    bad_table(
                        path,
                        format!(
                            "no label column {wanted:?}: the columns are {} (give a name of the \
                             header or an index from 0)",
                            header.join(", ")
                        ),
                    )
                })
        })
        .transpose()?;
    let mut values = Vec::new();
    let mut labels = label.map(|_| LabelColumn::new(&options.classes));
    let mut rows = 0;
    let mut record = if has_header { None } else { Some(first) };
    loop {
        let current = match record.take() {
            Some(r) => r,
            None => match next(rows + 2)? {
                Some(r) => r,
                None => break,
            },
        };
        let line = current
            .position()
            .map_or(rows + 1, |p| line_at(p.byte() as usize));
        if current.len() != width {
            return Err(bad_table(
                path,
                format!(
                    "line {line} has {} cells, the first line {width}",
                    current.len()
                ),
            ));
        }
        for (i, cell) in current.iter().enumerate() {
            let at = || format!("line {line}, column {:?}", header[i]);
            match (&mut labels, label) {
                (Some(labels), Some(l)) if l == i => labels.push(cell),
                _ => number(cell).map(|value| values.push(value as f32)),
            }
            .map_err(|reason| bad_cell(path, at(), reason))?;
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(bad_table(path, "a header but no rows"));
    }
    let names = if has_header {
        header
            .into_iter()
            .enumerate()
            .filter(|&(i, _)| Some(i) != label)
            .map(|(_, name)| name)
            .collect()
    } else {
        Vec::new()
    };
    let (labels, classes) = match labels.map(LabelColumn::finish) {
        Some((labels, classes)) => (Some(labels), classes),
        None => (None, Vec::new()),
    };
    Ok(Table {
        rows,
        cols: width - usize::from(label.is_some()),
        values,
        labels,
        classes,
        image: None,
        grey_levels: false,
        names,
    })
}

/// The shape and values of one NumPy array, every element as `f64`, and its type string.
struct Array {
    shape: Vec<usize>,
    values: Vec<f64>,
    dtype: String,
}

/// Reads one array: C order, a plain numeric type.
fn read_array<R: std::io::Read>(npy: NpyFile<R>, path: &Path, what: &str) -> Result<Array> {
    let bad = |reason: String| bad_table(path, format!("{what}: {reason}"));
    if npy.order() == npyz::Order::Fortran {
        return Err(bad(
            "Fortran-ordered arrays are not read: save np.ascontiguousarray(a)".into(),
        ));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let DType::Plain(type_str) = npy.dtype() else {
        return Err(bad("a structured array: give a plain numeric one".into()));
    };
    let dtype = type_str.to_string();
    let io = |e: std::io::Error| bad(format!("cannot read: {e}"));
    let values = match dtype.as_str() {
        "<f4" => widen(npy.into_vec::<f32>().map_err(io)?),
        "<f8" => npy.into_vec::<f64>().map_err(io)?,
        "|u1" => widen(npy.into_vec::<u8>().map_err(io)?),
        "|i1" => widen(npy.into_vec::<i8>().map_err(io)?),
        "<u2" => widen(npy.into_vec::<u16>().map_err(io)?),
        "<i2" => widen(npy.into_vec::<i16>().map_err(io)?),
        "<u4" => widen(npy.into_vec::<u32>().map_err(io)?),
        "<i4" => widen(npy.into_vec::<i32>().map_err(io)?),
        "<i8" => npy
            .into_vec::<i64>()
            .map_err(io)?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        "<u8" => npy
            .into_vec::<u64>()
            .map_err(io)?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        other => {
            return Err(bad(format!(
                "dtype {other} is not read: give float32, float64, uint8 or other integers, \
                 little-endian"
            )));
        }
    };
    Ok(Array {
        shape,
        values,
        dtype,
    })
}

/// Every element of `v` as `f64`, exactly.
fn widen<T: Into<f64>>(v: Vec<T>) -> Vec<f64> {
    v.into_iter().map(Into::into).collect()
}

/// An array of features as a table: `[n]`, `[n, d]` or `[n, h, w]`; `uint8` grey levels
/// divided by 255; every value finite.
fn features(array: Array, path: &Path, what: &str) -> Result<Table> {
    let (rows, cols, image) = match array.shape[..] {
        [n] => (n, 1, None),
        [n, d] => (n, d, None),
        [n, h, w] => (n, h * w, Some([h, w])),
        _ => {
            return Err(bad_table(
                path,
                format!(
                    "{what}: shape {:?}: give one example per row, [n, features] (or [n, height, \
                     width] images)",
                    array.shape
                ),
            ));
        }
    };
    if rows == 0 || cols == 0 {
        return Err(bad_table(
            path,
            format!("{what}: shape {:?} holds no values", array.shape),
        ));
    }
    let scale = if array.dtype == "|u1" { 255.0 } else { 1.0 };
    if let Some((i, reason)) = array
        .values
        .iter()
        .enumerate()
        .find_map(|(i, &v)| feature(v, v).err().map(|reason| (i, reason)))
    {
        return Err(bad_cell(
            path,
            format!("{what} row {} (from 0), column {}", i / cols, i % cols),
            reason,
        ));
    }
    Ok(Table {
        rows,
        cols,
        values: array.values.iter().map(|&v| (v / scale) as f32).collect(),
        labels: None,
        classes: Vec::new(),
        image,
        grey_levels: scale == 255.0,
        names: Vec::new(),
    })
}

/// Reads a `.npy` file of features (see the [module docs](self)).
///
/// # Errors
/// [`DataError::Io`] if it cannot be opened; [`DataError::BadTable`] for a file that is not a
/// NumPy array, or of another shape, order or type; [`DataError::BadCell`] for a value that is
/// not finite.
pub fn read_npy(path: &Path) -> Result<Table> {
    let file = std::fs::File::open(path).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let npy = NpyFile::new(BufReader::new(file))
        .map_err(|e| bad_table(path, format!("not a NumPy .npy file: {e}")))?;
    features(read_array(npy, path, "the array")?, path, "the array")
}

/// Reads a `.npz` archive: its features array and, if it has one, its labels array (see the
/// [module docs](self)), of one row each per example; labels that are strings are class names,
/// read onto [`TableOptions::classes`] where it names them, else numbered in sorted order.
///
/// # Errors
/// As [`read_npy`]; [`DataError::BadTable`] also for an archive without a features array,
/// labels of another count than the features, an array of Python objects, or class indices
/// where the known classes are named; [`DataError::BadCell`] for a label that is not a class
/// index in an array of numbers, or in an array of names, a number, a missing value or a name
/// not among the known classes.
pub fn read_npz(path: &Path, options: &TableOptions) -> Result<Table> {
    let mut archive = npyz::npz::NpzArchive::open(path)
        .map_err(|e| bad_table(path, format!("not a NumPy .npz archive: {e}")))?;
    let names: Vec<String> = archive.array_names().map(str::to_string).collect();
    let find = |candidates: &[&str]| {
        candidates
            .iter()
            .find(|c| names.iter().any(|n| n == *c))
            .map(|c| c.to_string())
    };
    let (Some(x), y) = (find(&FEATURE_ARRAYS), find(&LABEL_ARRAYS)) else {
        return Err(bad_table(
            path,
            format!(
                "no features array: it holds {}; name the features one of {} (and the labels \
                 one of {})",
                names.join(", "),
                FEATURE_ARRAYS.join(", "),
                LABEL_ARRAYS.join(", ")
            ),
        ));
    };
    let what = format!("array {x}");
    let npy = npz_array(&mut archive, path, &x)?;
    let mut table = features(read_array(npy, path, &what)?, path, &what)?;
    if let Some(y) = y {
        let npy = npz_array(&mut archive, path, &y)?;
        let count = match npy.shape() {
            &[n] | &[n, 1] => n as usize,
            shape => {
                return Err(bad_table(
                    path,
                    format!("array {y}: shape {shape:?}: labels are one class per example"),
                ));
            }
        };
        if count != table.rows {
            return Err(bad_table(
                path,
                format!(
                    "array {x} holds {} examples but array {y} {count} labels",
                    table.rows
                ),
            ));
        }
        let (labels, classes) = label_array(npy, path, &format!("array {y}"), &options.classes)?;
        table.labels = Some(labels);
        table.classes = classes;
    }
    Ok(table)
}

/// The array `name` of the `.npz` `archive` read from `path`.
fn npz_array<'a, R: std::io::Read + std::io::Seek>(
    archive: &'a mut npyz::npz::NpzArchive<R>,
    path: &Path,
    name: &str,
) -> Result<NpyFile<impl std::io::Read + 'a>> {
    archive
        .by_name(name)
        .map_err(|e| bad_table(path, format!("array {name}: cannot read: {e}")))?
        .ok_or_else(|| bad_table(path, format!("array {name} is missing")))
}

/// The classes of a labels array `what`: class indices (integers, or floats of whole values),
/// or class names (strings, `np.str_` or bytes: read as a CSV column's cells, trimmed, by
/// [`LabelColumn`], onto the `known` classes if any, else numbered in sorted order), with the
/// classes' names (empty for indices).
fn label_array<R: std::io::Read>(
    npy: NpyFile<R>,
    path: &Path,
    what: &str,
    known: &[String],
) -> Result<(Vec<usize>, Vec<String>)> {
    let at = |i: usize| format!("{what} row {i} (from 0)");
    let cannot = |e: std::io::Error| bad_table(path, format!("{what}: cannot read: {e}"));
    let type_char = match npy.dtype() {
        DType::Plain(type_str) => Some(type_str.type_char()),
        _ => None,
    };
    let names: Vec<String> = match type_char {
        // Strings are read, and bytes decoded, row by row, so that a row that is not Unicode
        // (a code point beyond U+10FFFF, a lone surrogate) or not UTF-8 is named.
        Some(TypeChar::UnicodeStr) => npy
            .data::<String>()
            .map_err(|e| bad_table(path, format!("{what}: cannot read: {e}")))?
            .enumerate()
            .map(|(i, row)| {
                row.map_err(|e| match e.kind() {
                    std::io::ErrorKind::InvalidData => {
                        bad_cell(path, at(i), format!("not Unicode text ({e})"))
                    }
                    _ => cannot(e),
                })
            })
            .collect::<Result<_>>()?,
        Some(TypeChar::ByteStr) => npy
            .into_vec::<Vec<u8>>()
            .map_err(cannot)?
            .into_iter()
            .enumerate()
            .map(|(i, bytes)| {
                String::from_utf8(bytes).map_err(|_| bad_cell(path, at(i), "not UTF-8 text"))
            })
            .collect::<Result<_>>()?,
        Some(TypeChar::Object) => {
            return Err(bad_table(
                path,
                format!(
                    "{what}: an array of Python objects (pickled), which is not read: save the \
                     labels as strings, np.array(y, dtype=str) (a missing one, None or NaN, is \
                     refused there by name), or as class indices"
                ),
            ));
        }
        _ if !known.is_empty() => {
            return Err(bad_table(
                path,
                indices_for_names(known, "its labels array holds class indices"),
            ));
        }
        _ => {
            let values = read_array(npy, path, what)?.values;
            let labels = values.iter().enumerate();
            let labels =
                labels.map(|(i, &v)| class(v).map_err(|reason| bad_cell(path, at(i), reason)));
            return Ok((labels.collect::<Result<Vec<usize>>>()?, Vec::new()));
        }
    };
    let mut column = LabelColumn::new(known);
    for (i, name) in names.iter().enumerate() {
        column
            .push(name.trim())
            .map_err(|reason| bad_cell(path, at(i), reason))?;
    }
    Ok(column.finish())
}

/// A `[rows, cols]` array of `float32` as the bytes of a `.npy` file.
///
/// # Panics
/// When `values` does not hold `rows * cols` values.
pub fn npy_bytes(rows: usize, cols: usize, values: &[f32]) -> Vec<u8> {
    assert_eq!(
        values.len(),
        rows * cols,
        "values of a [{rows}, {cols}] array"
    );
    let mut bytes = Vec::new();
    {
        let mut writer = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&[rows as u64, cols as u64])
            .writer(&mut bytes)
            .begin_nd()
            .expect("writing to memory");
        writer
            .extend(values.iter().copied())
            .expect("writing to memory");
        writer.finish().expect("writing to memory");
    }
    bytes
}

/// A `[rows, cols]` table as CSV text: the header `names` (one per column), then one line per
/// row, each value as Rust prints an `f32` (the shortest text that reads back exactly).
///
/// # Panics
/// When `values` does not hold `rows * cols` values or `names` is not one per column.
pub fn csv_bytes(names: &[String], rows: usize, values: &[f32]) -> Vec<u8> {
    csv_table(names, rows, values, None)
}

/// [`csv_bytes`] with a last column named `column` of text `cells`, one per row (a class
/// name, say), quoted where CSV needs it.
///
/// # Panics
/// As [`csv_bytes`], and when `cells` is not one per row.
pub fn labelled_csv_bytes(
    names: &[String],
    rows: usize,
    values: &[f32],
    (column, cells): (&str, &[String]),
) -> Vec<u8> {
    assert_eq!(cells.len(), rows, "a cell per row");
    csv_table(names, rows, values, Some((column, cells)))
}

/// [`csv_bytes`], with the `last` column if any.
fn csv_table(
    names: &[String],
    rows: usize,
    values: &[f32],
    last: Option<(&str, &[String])>,
) -> Vec<u8> {
    let cols = names.len();
    assert_eq!(
        values.len(),
        rows * cols,
        "values of a [{rows}, {cols}] table"
    );
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = names
        .iter()
        .map(String::as_str)
        .chain(last.map(|(name, _)| name));
    writer.write_record(header).expect("writing to memory");
    let cells = last.map(|(_, cells)| cells);
    for (i, row) in values.chunks(cols.max(1)).take(rows).enumerate() {
        let numbers = row.iter().map(|v| v.to_string());
        let label = cells.map(|cells| cells[i].clone());
        writer
            .write_record(numbers.chain(label))
            .expect("writing to memory");
    }
    writer.into_inner().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` written as `name` in a fresh folder, which the returned guard removes.
    fn file(name: &str, text: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn csv(text: &str, label: Option<&str>) -> Result<Table> {
        csv_of(text, label, &[])
    }

    /// `text` read as a CSV file with the label column `label` onto the classes `known`.
    fn csv_of(text: &str, label: Option<&str>, known: &[&str]) -> Result<Table> {
        let (_dir, path) = file("data.csv", text.as_bytes());
        let options = TableOptions {
            label_column: label.map(str::to_string),
            classes: known.iter().map(|s| s.to_string()).collect(),
        };
        read_table(&path, &options)
    }

    /// The error of `result`, as a user reads it, with the file's folder cut off.
    fn message<T: std::fmt::Debug>(result: Result<T>) -> String {
        let text = result.unwrap_err().to_string();
        text[text.find("data.").unwrap_or(0)..].to_string()
    }

    #[test]
    fn csv_with_a_header_names_its_label_column() {
        let table = csv("a,label,b\n0.5,1,2\n-1,0,3e2\n\n", Some("label")).unwrap();
        assert_eq!((table.rows, table.cols), (2, 2));
        assert_eq!(table.values, [0.5, 2.0, -1.0, 300.0]);
        assert_eq!(table.labels, Some(vec![1, 0]));
        assert_eq!(table.names, ["a", "b"]);
        let unlabelled = csv("a,label,b\n0.5,1,2\n", None).unwrap();
        assert_eq!((unlabelled.cols, unlabelled.labels), (3, None));
    }

    #[test]
    fn pandas_column_numbers_are_a_header() {
        let table = csv("0,1,2\n5,6,7\n", Some("2")).unwrap();
        assert_eq!(
            (table.rows, table.values.clone(), table.labels),
            (1, vec![5.0, 6.0], Some(vec![7]))
        );
        assert_eq!(table.names, ["0", "1"]);
    }

    #[test]
    fn csv_without_a_header_takes_the_label_column_by_index() {
        let table = csv("1, 0.25, 0.75\n2, 1, 0\n", Some("0")).unwrap();
        assert_eq!((table.rows, table.cols), (2, 2));
        assert_eq!(table.values, [0.25, 0.75, 1.0, 0.0]);
        assert_eq!(table.labels, Some(vec![1, 2]));
        assert!(table.names.is_empty());
    }

    #[test]
    fn class_names_are_numbered_in_sorted_order_whatever_the_rows_order() {
        let text = "x,species\n1,virginica\n2,setosa\n3,virginica\n4,versicolor\n";
        let table = csv(text, Some("species")).unwrap();
        assert_eq!(table.classes, ["setosa", "versicolor", "virginica"]);
        assert_eq!(table.labels, Some(vec![2, 0, 2, 1]));
        assert_eq!(
            (table.values, table.names),
            (vec![1.0, 2.0, 3.0, 4.0], vec!["x".into()])
        );
        // Without a header too: the label cell of the first line is no number, the rest are.
        let headless = csv("0.5,M\n0.25,B\n", Some("1")).unwrap();
        assert_eq!(
            (headless.classes, headless.labels),
            (vec!["B".into(), "M".into()], Some(vec![1, 0]))
        );
        // Class indices name no classes.
        assert!(csv("x,y\n1,2\n", Some("y")).unwrap().classes.is_empty());
    }

    #[test]
    fn class_names_are_read_onto_the_known_classes() {
        let known = ["B", "M", "X"];
        let table = csv_of("x,y\n1,M\n2,B\n3,M\n", Some("y"), &known).unwrap();
        assert_eq!(
            table.labels,
            Some(vec![1, 0, 1]),
            "X, absent here, keeps its number"
        );
        assert_eq!(table.classes, known);
        let unknown = message(csv_of("x,y\n1,M\n2,Q\n", Some("y"), &known));
        assert!(
            unknown.contains(
                "line 3, column \"y\": class \"Q\" is not one of the training data's: B, M, X"
            ),
            "{unknown}"
        );
        let indices = message(csv_of("x,y\n1,0\n", Some("y"), &known));
        assert!(
            indices.contains("line 2, column \"y\": label 0 is a class index, but the classes are named (B, M, X)"),
            "{indices}"
        );
        // Unlabelled, known classes change nothing.
        assert_eq!(csv_of("x,y\n1,2\n", None, &known).unwrap().labels, None);
    }

    #[test]
    fn a_label_column_of_both_kinds_is_refused_at_the_first_of_the_other() {
        let cases = [
            (
                "x,y\n1,a\n2,b\n3,4\n",
                "line 4, column \"y\": label 4 is a number, but the labels above are class names",
            ),
            (
                "x,y\n1,0\n2,NA\n",
                "line 3, column \"y\": label \"NA\" reads as a missing value",
            ),
            (
                "x,y\n1,0\n2,nan\n",
                "line 3, column \"y\": label \"nan\" reads as a missing value",
            ),
            (
                "x,y\n1,a\n2,NaN\n",
                "line 3, column \"y\": label \"NaN\" reads as a missing value",
            ),
            (
                "x,y\n1,0\n2,b\n",
                "line 3, column \"y\": label \"b\" is not a number, but the labels above are class indices",
            ),
            (
                "x,y\n1,a\n2,\n",
                "line 3, column \"y\": no label (an empty cell)",
            ),
            (
                "x,y\n1,a\n2,?\n",
                "line 3, column \"y\": label \"?\" reads as a missing value",
            ),
            (
                "x,y\n1,NA\n",
                "line 2, column \"y\": label \"NA\" reads as a missing value",
            ),
        ];
        for (text, expected) in cases {
            let got = message(csv(text, Some("y")));
            assert!(got.contains(expected), "{text:?}: {got}");
        }
        let many: String = (0..=MAX_CLASSES).map(|i| format!("1,id{i}\n")).collect();
        let got = message(csv(&format!("x,y\n{many}"), Some("y")));
        assert!(
            got.contains(&format!(
                "line {}, column \"y\": a class name beyond the {MAX_CLASSES}",
                MAX_CLASSES + 2
            )),
            "{got}"
        );
    }

    #[test]
    fn bad_csv_is_refused_naming_the_line_and_column() {
        let cases = [
            (
                "a,b\n1,2\n3\n",
                None,
                "data.csv: line 3 has 1 cells, the first line 2",
            ),
            (
                "a,b\n1,2\n3,x\n",
                None,
                "data.csv: line 3, column \"b\": \"x\" is not a number",
            ),
            (
                "a,b\n1,NaN\n",
                None,
                "data.csv: line 2, column \"b\": \"NaN\" reads as a missing value",
            ),
            (
                "a,b\n1,\n",
                None,
                "line 2, column \"b\": \"\" reads as a missing value: every feature",
            ),
            (
                "a,b\n1,NA\n",
                None,
                "column \"b\": \"NA\" reads as a missing",
            ),
            (
                "a,b\n1,-NAN\n",
                None,
                "column \"b\": -NAN reads as a missing value",
            ),
            (
                "a,b\n1,inf\n",
                None,
                "line 2, column \"b\": inf is not a finite number",
            ),
            (
                "a,y\n1,2.5\n",
                Some("y"),
                "line 2, column \"y\": label 2.5 is not a class index (a whole number of at \
                 least 0): the label column holds each example's class, and a column of \
                 measurements is a regression target",
            ),
            (
                "a,y\n1,-1\n",
                Some("y"),
                "label -1 is not a class index: class indices run from 0 (renumber labels such \
                 as -1 and 1 as 0 and 1, or name the classes: neg, pos)",
            ),
            (
                "a,y\n1,4000000000\n",
                Some("y"),
                "label 4000000000 is not a class index: classes run from 0 to at most 65535",
            ),
            (
                "a,b\n1,2\n",
                Some("label"),
                "data.csv: no label column \"label\": the columns are a, b",
            ),
            ("a,b\n", None, "data.csv: a header but no rows"),
            ("", None, "data.csv: no rows"),
            (
                "a;b;y\n1,5;2;0\n",
                Some("y"),
                "data.csv: line 1 holds ';': only commas separate",
            ),
            ("a\tb\n1\t2\n", None, "data.csv: line 1 holds '\\t'"),
            // No header, decimal commas: the first line splits into "1" and "5;2;0".
            ("1,5;2;0\n", None, "data.csv: line 1 holds ';'"),
            ("a,b\n1,2\n\n3,x\n", None, "data.csv: line 4, column \"b\""),
            (
                "1,2\n1e39,0\n",
                None,
                "line 2, column \"0\": 1e39 is beyond the range of float32",
            ),
            (
                "1,x\n",
                None,
                "data.csv: line 1, column \"1\": \"x\" is not a number",
            ),
        ];
        for (text, label, expected) in cases {
            let got = message(csv(text, label));
            assert!(got.contains(expected), "{text:?}: {got}");
        }
    }

    #[test]
    fn npy_written_is_read_back_exactly() {
        let values = [0.0, 1.5, -2.25, 1e-7, 3.0, f32::MAX];
        let (_dir, path) = file("data.npy", &npy_bytes(2, 3, &values));
        let table = read_table(&path, &TableOptions::default()).unwrap();
        assert_eq!((table.rows, table.cols), (2, 3));
        assert_eq!(table.values, values);
        let (_dir, path) = file(
            "data.csv",
            &csv_bytes(&["a".into(), "b".into()], 3, &values),
        );
        let table = read_table(&path, &TableOptions::default()).unwrap();
        assert_eq!(table.values, values, "CSV keeps every f32 exactly");
        assert_eq!(table.names, ["a", "b"]);
    }

    #[test]
    fn a_label_that_is_not_a_number_is_not_told_it_is_a_measurement() {
        // A float array's NaN or infinity reaches `class` (a CSV's are refused before, as cells).
        assert!(
            class(f64::NAN)
                .unwrap_err()
                .starts_with("label NaN reads as a missing value")
        );
        for value in [f64::INFINITY, f64::NEG_INFINITY] {
            let why = class(value).unwrap_err();
            assert!(
                !why.contains("regression") && !why.contains("renumber"),
                "{why}"
            );
        }
        assert_eq!(class(3.0), Ok(3));
    }

    #[test]
    fn a_nan_in_an_array_is_named_by_row_and_column() {
        let (_dir, path) = file("data.npy", &npy_bytes(2, 2, &[0.0, 1.0, 2.0, f32::NAN]));
        let got = message(read_npy(&path));
        assert!(
            got.contains("data.npy: the array row 1 (from 0), column 1: NaN reads as a missing"),
            "{got}"
        );
        let (_dir, path) = file("data.npy", b"not numpy");
        assert!(message(read_npy(&path)).contains("not a NumPy .npy file"));
        let (_dir, path) = file("data.txt", b"1,2");
        assert!(message(read_table(&path, &TableOptions::default())).contains("name it .csv"));
        let (_dir, path) = file("data.csv.gz", b"1,2");
        let got = message(read_table(&path, &TableOptions::default()));
        assert!(got.contains("only IDX files are read gzipped"), "{got}");
    }

    /// Runs `script` with numpy in the folder `dir`; `false` when python3 or numpy is missing
    /// (outside CI, which installs them, the caller then skips).
    fn numpy(dir: &Path, script: &str) -> bool {
        let run = std::process::Command::new("python3")
            .arg("-c")
            .arg(format!("import numpy as np\n{script}"))
            .current_dir(dir)
            .output();
        match run {
            Ok(out) if out.status.success() => true,
            Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named") => {
                assert!(std::env::var_os("CI").is_none(), "CI installs numpy");
                false
            }
            Ok(out) => panic!("{}", String::from_utf8_lossy(&out.stderr)),
            Err(e) => {
                assert!(std::env::var_os("CI").is_none(), "CI installs python3: {e}");
                false
            }
        }
    }

    #[test]
    fn numpy_files_read_as_numpy_wrote_them_and_ours_read_in_numpy() {
        let dir = tempfile::tempdir().unwrap();
        let script = "\
x = np.arange(12, dtype=np.float64).reshape(3, 2, 2) / 4
np.savez('data.npz', x=x, y=np.array([2, 0, 1]))
np.savez('short.npz', x=x, y=np.array([2, 0]))
np.savez('unnamed.npz', a=x)
np.savez('halves.npz', x=x, y=np.array([0.5, 1, 2]))
np.savez('named.npz', x=x, y=np.array(['virginica', 'setosa', 'versicolor']))
np.savez('bytes.npz', x=x, y=np.array([b'dog', b'cat', b'dog']))
np.savez('missing.npz', x=x, y=np.array(['dog', 'NA', 'cat']))
np.savez('objects.npz', x=x, y=np.array(['dog', 'cat', 'dog'], dtype=object))
np.savez('digits.npz', x=x, y=np.array(['2', '0', '1']))
np.savez('column.npz', x=x, y=np.array([[' dog'], ['cat '], ['dog']]))
np.savez('empty.npz', x=x, y=np.array(['dog', 'cat', '']))
np.savez('none.npz', x=x, y=np.array(['dog', None, 'cat'], dtype=str))
np.savez('latin1.npz', x=x, y=np.array([b'dog', b'caf\\xe9', b'dog']))
np.savez('surrogate.npz', x=x, y=np.array(['dog', 'cat', '\\ud800']))
np.savez('beyond.npz', x=x, y=np.array([65, 66, 0x110000], dtype='<u4').view('<U1'))
np.save('pixels.npy', np.array([[0, 255], [51, 102]], dtype=np.uint8))
np.save('fortran.npy', np.asfortranarray(np.ones((2, 3), dtype=np.float32)))
np.save('big.npy', np.ones((2, 3), dtype='>f4'))";
        if !numpy(dir.path(), script) {
            eprintln!("skipped: python3 with numpy is not installed");
            return;
        }
        let read = |name: &str| read_table(&dir.path().join(name), &TableOptions::default());
        let table = read("data.npz").unwrap();
        assert_eq!((table.rows, table.cols, table.image), (3, 4, Some([2, 2])));
        assert_eq!(table.values[..5], [0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(table.labels, Some(vec![2, 0, 1]));
        let pixels = read("pixels.npy").unwrap();
        assert_eq!(pixels.values, [0.0, 1.0, 0.2, 0.4]);
        for (name, expected) in [
            ("short.npz", "array x holds 3 examples but array y 2 labels"),
            (
                "unnamed.npz",
                "no features array: it holds a; name the features one of x",
            ),
            (
                "halves.npz",
                "array y row 0 (from 0): label 0.5 is not a class index",
            ),
            (
                "missing.npz",
                "array y row 1 (from 0): label \"NA\" reads as a missing value",
            ),
            (
                "objects.npz",
                "array y: an array of Python objects (pickled), which is not read",
            ),
            (
                "empty.npz",
                "array y row 2 (from 0): no label (an empty cell)",
            ),
            (
                "none.npz",
                "array y row 1 (from 0): label \"None\" reads as a missing value",
            ),
            ("latin1.npz", "array y row 1 (from 0): not UTF-8 text"),
            ("surrogate.npz", "array y row 2 (from 0): not Unicode text"),
            ("beyond.npz", "array y row 2 (from 0): not Unicode text"),
            ("fortran.npy", "Fortran-ordered arrays are not read"),
            ("big.npy", "dtype >f4 is not read"),
        ] {
            let got = read(name).unwrap_err().to_string();
            assert!(got.contains(expected), "{name}: {got}");
        }
        let named = TableOptions {
            classes: vec!["cat".into(), "dog".into()],
            ..TableOptions::default()
        };
        let refused = |path: &Path, options| read_table(path, options).unwrap_err().to_string();
        let got = refused(&dir.path().join("data.npz"), &named);
        assert!(
            got.contains("data.npz: its labels array holds class indices, but the classes are named (cat, dog)"),
            "{got}"
        );
        let column = TableOptions {
            label_column: Some("species".into()),
            ..TableOptions::default()
        };
        let got = refused(&dir.path().join("pixels.npy"), &column);
        assert!(
            got.contains("pixels.npy: a label column (\"species\") is a CSV file's, and this file holds no labels"),
            "{got}"
        );
        // Labels that are strings are class names, numbered in sorted order as a CSV
        // column's, or read onto the names known.
        let table = read("named.npz").unwrap();
        assert_eq!(table.labels, Some(vec![2, 0, 1]));
        assert_eq!(table.classes, ["setosa", "versicolor", "virginica"]);
        let table = read_table(&dir.path().join("bytes.npz"), &named).unwrap();
        assert_eq!(
            (table.labels, table.classes),
            (Some(vec![1, 0, 1]), named.classes.clone())
        );
        // Trimmed as a CSV cell is, and of shape [n, 1] as well as [n].
        let table = read("column.npz").unwrap();
        assert_eq!(
            (table.labels, table.classes),
            (Some(vec![1, 0, 1]), named.classes.clone())
        );
        // Strings of numbers are class indices, as in a CSV column.
        let table = read("digits.npz").unwrap();
        assert_eq!(
            (table.labels, table.classes.len()),
            (Some(vec![2, 0, 1]), 0)
        );
        let got = refused(&dir.path().join("digits.npz"), &named);
        assert!(
            got.contains("array y row 0 (from 0): label 2 is a class index, but the classes are named (cat, dog)"),
            "{got}"
        );
        let other = TableOptions {
            classes: vec!["cat".into(), "eel".into()],
            ..TableOptions::default()
        };
        let got = refused(&dir.path().join("bytes.npz"), &other);
        assert!(
            got.contains(
                "array y row 0 (from 0): class \"dog\" is not one of the training data's: cat, eel"
            ),
            "{got}"
        );
        // An archive's labels array serves for a column asked of a CSV beside it.
        assert!(read_table(&dir.path().join("data.npz"), &column).is_ok());
        let got = refused(&dir.path().join("iris.data"), &column);
        assert!(got.contains("not a table file this reader knows"), "{got}");
        // Ours, read by numpy.
        std::fs::write(
            dir.path().join("ours.npy"),
            npy_bytes(2, 2, &[1.0, 2.5, -3.0, 0.125]),
        )
        .unwrap();
        let names = ["h0".to_string(), "h1".to_string()];
        std::fs::write(
            dir.path().join("ours.csv"),
            csv_bytes(&names, 2, &[1.0, 2.5, -3.0, 0.125]),
        )
        .unwrap();
        // A label column of names, one of them quoted, read back by our reader.
        let cells = ["big, \"red\"".to_string(), "cat".to_string()];
        let bytes = labelled_csv_bytes(&names, 2, &[1.0, 2.5, -3.0, 0.125], ("y", &cells));
        std::fs::write(dir.path().join("named.csv"), bytes).unwrap();
        let options = TableOptions {
            label_column: Some("y".into()),
            ..TableOptions::default()
        };
        let named = read_table(&dir.path().join("named.csv"), &options).unwrap();
        assert_eq!(
            (named.values, named.labels),
            (vec![1.0, 2.5, -3.0, 0.125], Some(vec![0, 1]))
        );
        assert_eq!(named.classes, ["big, \"red\"", "cat"]);
        let check = "\
a = np.load('ours.npy')
assert a.dtype == np.float32 and a.shape == (2, 2), (a.dtype, a.shape)
assert (a == np.array([[1, 2.5], [-3, 0.125]], dtype=np.float32)).all(), a
c = np.loadtxt('ours.csv', delimiter=',', skiprows=1)
assert (c == a).all(), c";
        assert!(numpy(dir.path(), check));
    }
}
