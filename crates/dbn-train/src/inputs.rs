//! The inputs of `dbn predict` and `dbn encode`: tables (CSV, NumPy, IDX images; read by
//! [`dbn_data::table`]) and pictures (PNG, JPEG), gathered into one matrix of the width a model
//! takes, each row named by where it came from.
//!
//! A picture becomes grey levels in [0, 1], resized to the model's square input (`side × side`
//! pixels, a triangle filter) when it is of another size. MNIST's digits are light on dark; a
//! picture of a dark digit on a light background (most scans and drawings) is inverted first
//! ([`Invert::Auto`] decides by the mean grey level of its border).

use std::path::{Path, PathBuf};

use dbn_data::{GREY_MAX, TableOptions, ValueRange, read_table};

use crate::stages::DataInfo;

/// When a picture's grey levels are inverted (`1 - grey`) to read light-on-dark, as MNIST is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Invert {
    /// When the picture's border is light on average (a dark digit on a light background).
    #[default]
    Auto,
    /// Always.
    Yes,
    /// Never.
    No,
}

/// Examples gathered from the input files.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    /// Where each row came from: `FILE` for a picture, `FILE:ROW` (from 0) for a table's row.
    pub sources: Vec<String>,
    /// `sources.len() * width` values, row after row.
    pub values: Vec<f32>,
    /// Each row's class, when every input file has labels (a CSV label column, an `.npz` `y`).
    pub labels: Option<Vec<usize>>,
    /// The first table whose labels were class names, and those names (every table's, when
    /// they are read onto known classes); `None` where the labels are class indices.
    pub label_names: Option<(PathBuf, Vec<String>)>,
    /// The pictures that were inverted.
    pub inverted: Vec<PathBuf>,
    /// What each row is, for the model's scaling ([`Inputs::for_model`]).
    pub rows: Vec<Row>,
}

/// What a row of [`Inputs`] came as, told by its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    /// A picture's grey levels, in [0, 1].
    Picture,
    /// A row of 8-bit grey levels divided by 255 as they were read (an IDX file's image, a
    /// `uint8` array's row).
    Pixels,
    /// A row of a table of numbers all in [0, 1].
    UnitTable,
    /// A row of a table of numbers not all in [0, 1].
    Table,
}

impl Inputs {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Checks that every value lies in [0, 1], the range of the grey levels (and probabilities)
    /// a model with Bernoulli visible units was trained on.
    ///
    /// # Errors
    /// The first value outside, naming its row and feature.
    pub fn check_unit_range(&self) -> Result<(), String> {
        self.check_range(1.0, "values in [0, 1] (grey levels divided by 255)")
    }

    /// Checks that every value lies in [0, `top`], the range of the `trained_on` values.
    ///
    /// # Errors
    /// The first value outside, naming its row and feature.
    fn check_range(&self, top: f32, trained_on: &str) -> Result<(), String> {
        let width = self.values.len() / self.len().max(1);
        match self.values.iter().position(|v| !(0.0..=top).contains(v)) {
            None => Ok(()),
            Some(i) => Err(format!(
                "{}: feature {} is {}, outside [0, {top}]: the model was trained on \
                 {trained_on}; scale the data to that range",
                self.sources[i / width],
                i % width,
                self.values[i]
            )),
        }
    }

    /// The inputs as the model whose data `info` describes takes them: for Bernoulli visible
    /// units, checked to lie in [0, 1] (and for a model without a `data.json`, trained on grey
    /// levels), or for a model of a table of 8-bit grey levels, checked to lie in [0, 255] and
    /// divided by 255 but for the rows in [0, 1] ([`Row`]); for Gaussian units, standardised,
    /// where the training values ([`DataInfo::value_range`]) went beyond [0, 1] a picture's
    /// grey levels first stretched onto their range (0 to 16 for scikit-learn's digits), and
    /// grey levels that reading divided by 255 multiplied back (an `uint8` array of those
    /// digits is read as 0 to 16).
    ///
    /// # Errors
    /// A value outside the range, as [`Inputs::check_unit_range`]; a picture or grey levels
    /// read divided for a model of Gaussian units whose `data.json` predates the range.
    ///
    /// # Panics
    /// When `rows` has another length than the values' rows.
    pub fn for_model(mut self, info: Option<&DataInfo>) -> Result<Self, String> {
        let Some((info, scaling)) =
            info.and_then(|info| Some((info, info.standardization.as_ref()?)))
        else {
            return self.check_unit_range().map(|()| self);
        };
        let grey = scaling.is_grey_levels();
        if grey {
            self.check_range(GREY_MAX, "8-bit grey levels (0 to 255)")?;
        }
        assert_eq!(self.rows.len(), self.len(), "a kind per row");
        let grey_row = |row: &Row| matches!(row, Row::Picture | Row::Pixels);
        if let (false, None, Some(at)) =
            (grey, info.value_range, self.rows.iter().position(grey_row))
        {
            return Err(format!(
                "{}: grey levels in [0, 1], but the model's data.json predates the range of \
                 its training values, onto which they are stretched for Gaussian units: give \
                 them as a table in the training data's scale, or add \"value_range\": [LO, \
                 HI], the lowest and highest training value, to the model's data.json",
                self.sources[at]
            ));
        }
        // Grey levels are stretched only onto training values beyond [0, 1].
        let beyond = info.range_beyond_unit_interval();
        // Grey levels read divided by 255, standardised as the numbers they hold.
        let of_divided = scaling.of_divided();
        let values = self.values.chunks_mut(scaling.width().max(1));
        for (values, &row) in values.zip(&self.rows) {
            match (grey, row, beyond) {
                (true, Row::Table, _) => scaling.apply(values),
                (true, _, _) => {}
                (false, Row::Picture, Some(range)) => {
                    stretched(values, range);
                    scaling.apply(values);
                }
                (false, Row::Pixels, Some(_)) => of_divided.apply(values),
                (false, _, _) => scaling.apply(values),
            }
        }
        Ok(self)
    }
}

/// Grey levels in [0, 1] mapped linearly onto `[lo, hi]`, in place.
fn stretched(grey: &mut [f32], [lo, hi]: [f32; 2]) {
    for g in grey {
        *g = lo + *g * (hi - lo);
    }
}

/// Whether `path` names a picture (PNG or JPEG) rather than a table.
fn is_picture(path: &Path) -> bool {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    matches!(extension.as_str(), "png" | "jpg" | "jpeg")
}

/// Reads every file of `paths` for a model of `width` inputs whose training data named their
/// `features` (a CSV header; empty when they named none); labels given by name are read onto
/// `options.classes` (each table's own sorted names where it is empty).
///
/// # Errors
/// One line naming the file: unreadable, of an unknown kind, a bad cell, a table of another
/// width than the model's or naming other features or the same in another order, or a
/// picture for a model whose input is not a square image.
pub fn read_inputs(
    paths: &[PathBuf],
    width: usize,
    options: &TableOptions,
    invert: Invert,
    features: &[String],
) -> Result<Inputs, Box<dyn std::error::Error>> {
    let mut inputs = Inputs {
        sources: Vec::new(),
        values: Vec::new(),
        labels: Some(Vec::new()),
        label_names: None,
        inverted: Vec::new(),
        rows: Vec::new(),
    };
    for path in paths {
        if is_picture(path) {
            let (grey, inverted) = read_picture(path, width, invert)?;
            inputs.sources.push(path.display().to_string());
            inputs.values.extend(grey);
            inputs.rows.push(Row::Picture);
            inputs.labels = None;
            if inverted {
                inputs.inverted.push(path.clone());
            }
            continue;
        }
        let table = read_table(path, options)?;
        if table.cols != width {
            return Err(format!(
                "{}: {} features per example, the model takes {width}",
                path.display(),
                table.cols
            )
            .into());
        }
        dbn_data::check_columns(path, &table.names, features)?;
        if inputs.label_names.is_none() && !table.classes.is_empty() {
            inputs.label_names = Some((path.clone(), table.classes.clone()));
        }
        let name = path.display();
        inputs
            .sources
            .extend((0..table.rows).map(|row| format!("{name}:{row}")));
        let in_unit_interval = || ValueRange::of(table.values.iter().copied()).in_unit_interval();
        let row = match table.grey_levels {
            true => Row::Pixels,
            false if in_unit_interval() => Row::UnitTable,
            false => Row::Table,
        };
        inputs.values.extend(table.values);
        inputs.rows.extend(std::iter::repeat_n(row, table.rows));
        inputs.labels = match (inputs.labels, table.labels) {
            (Some(mut all), Some(labels)) => {
                all.extend(labels);
                Some(all)
            }
            _ => None,
        };
    }
    Ok(inputs)
}

/// A picture's grey levels in [0, 1] at the model's `width = side²` pixels, and whether they
/// were inverted.
fn read_picture(
    path: &Path,
    width: usize,
    invert: Invert,
) -> Result<(Vec<f32>, bool), Box<dyn std::error::Error>> {
    let side = (width as f64).sqrt().round() as u32;
    if (side * side) as usize != width {
        return Err(format!(
            "{}: a picture, but the model's {width} inputs are not a square image; give a table \
             (CSV, .npy, .npz) of {width} features per example",
            path.display()
        )
        .into());
    }
    let picture = image::open(path)
        .map_err(|e| format!("{}: cannot read the picture: {e}", path.display()))?
        .to_luma_alpha8();
    // Transparent pixels are the paper: composited over white, as a viewer shows them.
    let picture = image::GrayImage::from_fn(picture.width(), picture.height(), |x, y| {
        let [grey, alpha] = picture.get_pixel(x, y).0;
        let (grey, alpha) = (u32::from(grey), u32::from(alpha));
        image::Luma([((grey * alpha + 255 * (255 - alpha)) / 255) as u8])
    });
    let picture = if picture.dimensions() == (side, side) {
        picture
    } else {
        image::imageops::resize(&picture, side, side, image::imageops::FilterType::Triangle)
    };
    let grey: Vec<f32> = picture
        .pixels()
        .map(|p| f32::from(p.0[0]) / 255.0)
        .collect();
    let inverted = match invert {
        Invert::Yes => true,
        Invert::No => false,
        Invert::Auto => border_mean(&grey, side as usize) > 0.5,
    };
    let grey = if inverted {
        grey.into_iter().map(|g| 1.0 - g).collect()
    } else {
        grey
    };
    Ok((grey, inverted))
}

/// Mean grey level of the outermost pixels of a `side × side` picture.
fn border_mean(grey: &[f32], side: usize) -> f32 {
    let border: Vec<f32> = (0..side * side)
        .filter(|&i| {
            let (r, c) = (i / side, i % side);
            r == 0 || c == 0 || r == side - 1 || c == side - 1
        })
        .map(|i| grey[i])
        .collect();
    border.iter().sum::<f32>() / border.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbn_data::Standardization;
    use dbn_model::VisibleUnits;

    #[test]
    fn pictures_are_resized_to_the_model_and_inverted_when_light() {
        let dir = tempfile::tempdir().unwrap();
        // A dark 3x3 cross on a light 56x56 background.
        let mut picture = image::GrayImage::from_pixel(56, 56, image::Luma([255]));
        for i in 20..36 {
            picture.put_pixel(i, 28, image::Luma([0]));
            picture.put_pixel(28, i, image::Luma([0]));
        }
        let path = dir.path().join("cross.png");
        picture.save(&path).unwrap();
        let inputs = read_inputs(
            std::slice::from_ref(&path),
            784,
            &TableOptions::default(),
            Invert::Auto,
            &[],
        )
        .unwrap();
        assert_eq!(inputs.values.len(), 784);
        assert_eq!(inputs.inverted, std::slice::from_ref(&path));
        assert_eq!(inputs.values[0], 0.0, "the light border became dark");
        assert!(
            inputs.values[14 * 28 + 14] > 0.3,
            "the dark cross became light"
        );
        assert_eq!(inputs.labels, None);
        let kept = read_inputs(
            std::slice::from_ref(&path),
            784,
            &TableOptions::default(),
            Invert::No,
            &[],
        )
        .unwrap();
        assert_eq!((kept.values[0], kept.inverted.len()), (1.0, 0));
        let err =
            read_inputs(&[path], 500, &TableOptions::default(), Invert::Auto, &[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("500 inputs are not a square image"),
            "{err}"
        );
    }

    /// The `data.json` of a model of 2x2 inputs scaled by `scaling`, trained on values from
    /// `range`.
    fn trained_on(scaling: Option<Standardization>, range: Option<[f32; 2]>) -> DataInfo {
        let visible = match scaling.as_ref().is_none_or(Standardization::is_grey_levels) {
            true => VisibleUnits::Bernoulli,
            false => VisibleUnits::Gaussian,
        };
        DataInfo {
            train: "train.csv".into(),
            test: "train.csv".into(),
            width: 4,
            visible,
            image: None,
            classes: 2,
            class_names: Vec::new(),
            standardization: scaling,
            value_range: range,
            test_split: None,
            source: None,
            features: Vec::new(),
        }
    }

    /// A picture and a row of each kind of table, 2x2 values each: grey levels 0, 8, 16, 4
    /// divided by 255 as read, a table's row in [0, 1], and `table`.
    fn one_of_each(table: [f32; 4]) -> Inputs {
        let pixels = [0.0, 8.0, 16.0, 4.0].map(|g: f32| g / 255.0);
        Inputs {
            sources: ["p.png", "t.npy:0", "unit.csv:0", "t.csv:0"]
                .map(String::from)
                .to_vec(),
            values: [[0.0, 0.25, 0.5, 1.0], pixels, [0.0, 0.5, 1.0, 1.0], table].concat(),
            labels: None,
            label_names: None,
            inverted: Vec::new(),
            rows: vec![Row::Picture, Row::Pixels, Row::UnitTable, Row::Table],
        }
    }

    /// Values within 1e-5 of the `expected` rows.
    fn close(values: &[f32], expected: &[[f32; 4]]) -> bool {
        let expected = expected.concat();
        values.len() == expected.len()
            && values
                .iter()
                .zip(&expected)
                .all(|(v, e)| (v - e).abs() < 1e-5)
    }

    #[test]
    fn each_row_is_scaled_as_its_kind_for_the_models_units() {
        // Gaussian units of digits 0 to 16 (scikit-learn's): a picture's grey levels are
        // stretched onto 0..16, and grey levels read divided by 255 multiplied back, before
        // the standardisation; tables are standardised as they are.
        let digits = Standardization {
            mean: vec![8.0; 4],
            scale: vec![4.0; 4],
        };
        let model = trained_on(Some(digits.clone()), Some([0.0, 16.0]));
        let scaled = one_of_each([16.0, 8.0, 0.0, 4.0]).for_model(Some(&model));
        let expected = [
            [-2.0, -1.0, 0.0, 2.0],
            [-2.0, 0.0, 2.0, -1.0],
            [-2.0, -1.875, -1.75, -1.75],
            [2.0, 0.0, -2.0, -1.0],
        ];
        assert!(close(&scaled.unwrap().values, &expected));
        // Trained on values in [0, 1] (IDX images, say): grey levels are taken as they are.
        let pixels = trained_on(Some(digits.clone()), Some([0.0, 1.0]));
        let scaled = one_of_each([0.0; 4]).for_model(Some(&pixels)).unwrap();
        let standardized = |x: f32| (x - 8.0) / 4.0;
        let first = [0.0, 0.25, 0.5, 1.0].map(standardized);
        assert!(close(&scaled.values[..4], &[first]));
        assert!(close(
            &scaled.values[4..8],
            &[[0.0, 8.0, 16.0, 4.0].map(|g| standardized(g / 255.0))]
        ));
        // A data.json that predates the range: grey levels are refused, named; tables pass.
        let old = trained_on(Some(digits), None);
        let refused = one_of_each([16.0; 4]).for_model(Some(&old)).unwrap_err();
        assert!(
            refused.starts_with("p.png: grey levels in [0, 1], but"),
            "{refused}"
        );
        assert!(refused.contains("add \"value_range\""), "{refused}");
        let mut tables = one_of_each([16.0; 4]);
        tables.rows[0] = Row::UnitTable;
        let refused = tables.clone().for_model(Some(&old)).unwrap_err();
        assert!(refused.starts_with("t.npy:0: grey levels"), "{refused}");
        tables.rows[1] = Row::UnitTable;
        assert!(tables.for_model(Some(&old)).is_ok());
        // Grey levels written as numbers: only the rows outside [0, 1] are divided by 255.
        let grey = trained_on(Some(Standardization::grey_levels(4)), Some([0.0, 255.0]));
        let inputs = one_of_each([255.0, 51.0, 0.0, 0.0]);
        let scaled = inputs.clone().for_model(Some(&grey)).unwrap();
        assert_eq!(scaled.values[..12], inputs.values[..12]);
        assert_eq!(scaled.values[12..], [1.0, 0.2, 0.0, 0.0]);
        let refused = one_of_each([256.0; 4]).for_model(Some(&grey)).unwrap_err();
        assert!(
            refused.starts_with("t.csv:0: feature 0 is 256"),
            "{refused}"
        );
        // Data in [0, 1]: nothing scaled, and a value outside refused.
        let unit = trained_on(None, Some([0.0, 1.0]));
        let kept = one_of_each([1.0; 4]).for_model(Some(&unit)).unwrap();
        assert_eq!(kept.values, one_of_each([1.0; 4]).values);
        assert!(one_of_each([2.0; 4]).for_model(Some(&unit)).is_err());
        assert!(one_of_each([2.0; 4]).for_model(None).is_err());
    }

    #[test]
    fn transparent_pictures_read_as_dark_strokes_on_white() {
        let dir = tempfile::tempdir().unwrap();
        let mut picture = image::RgbaImage::from_pixel(28, 28, image::Rgba([0, 0, 0, 0]));
        picture.put_pixel(14, 14, image::Rgba([0, 0, 0, 255]));
        let path = dir.path().join("canvas.png");
        picture.save(&path).unwrap();
        let inputs = read_inputs(
            std::slice::from_ref(&path),
            784,
            &TableOptions::default(),
            Invert::Auto,
            &[],
        )
        .unwrap();
        assert_eq!(inputs.inverted.len(), 1, "a white page, inverted");
        assert_eq!((inputs.values[0], inputs.values[14 * 28 + 14]), (0.0, 1.0));
        assert!(inputs.check_unit_range().is_ok());
    }

    #[test]
    fn tables_of_another_width_are_refused_and_labels_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.csv");
        std::fs::write(&path, "a,b,y\n0,1,3\n1,0,4\n").unwrap();
        let options = TableOptions {
            label_column: Some("y".into()),
            ..TableOptions::default()
        };
        let inputs =
            read_inputs(std::slice::from_ref(&path), 2, &options, Invert::Auto, &[]).unwrap();
        assert_eq!(
            inputs.sources,
            [
                format!("{}:0", path.display()),
                format!("{}:1", path.display())
            ]
        );
        assert_eq!(inputs.labels, Some(vec![3, 4]));
        assert_eq!(inputs.rows, [Row::UnitTable; 2]);
        assert!(inputs.check_unit_range().is_ok());
        // An IDX file's images are grey levels divided by 255 as read.
        let idx = dbn_data::shipped_mnist_dir().join("t10k-images-idx3-ubyte.gz");
        let images = read_inputs(&[idx], 784, &TableOptions::default(), Invert::Auto, &[]);
        assert!(images.unwrap().rows.iter().all(|&row| row == Row::Pixels));
        std::fs::write(&path, "a,b,y\n0,255,3\n").unwrap();
        let err = read_inputs(std::slice::from_ref(&path), 2, &options, Invert::Auto, &[])
            .unwrap()
            .check_unit_range()
            .unwrap_err();
        assert!(
            err.contains("data.csv:0: feature 1 is 255, outside [0, 1]"),
            "{err}"
        );
        let err = read_inputs(
            std::slice::from_ref(&path),
            784,
            &options,
            Invert::Auto,
            &[],
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("data.csv: 2 features per example, the model takes 784"),
            "{err}"
        );
        // The model's training data named their features b, a: the same columns in another
        // order would give every example other features.
        let trained = ["b".to_string(), "a".to_string()];
        let err = read_inputs(&[path], 2, &options, Invert::Auto, &trained).unwrap_err();
        assert!(
            err.to_string()
                .contains("data.csv: feature column 1 is \"a\" here and \"b\" in the training"),
            "{err}"
        );
    }

    #[test]
    fn labels_given_by_name_are_read_onto_the_models_classes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.csv");
        std::fs::write(&path, "a,b,y\n0,1,dog\n1,0,bird\n").unwrap();
        let mut options = TableOptions {
            label_column: Some("y".into()),
            classes: ["bird", "cat", "dog"].map(String::from).to_vec(),
        };
        let read = |options: &TableOptions| {
            read_inputs(std::slice::from_ref(&path), 2, options, Invert::Auto, &[])
        };
        let inputs = read(&options).unwrap();
        assert_eq!(inputs.labels, Some(vec![2, 0]));
        assert_eq!(
            inputs.label_names,
            Some((path.clone(), options.classes.clone()))
        );
        // Without known classes, the file's own.
        options.classes.clear();
        let own = read(&options).unwrap().label_names.unwrap().1;
        assert_eq!(own, ["bird", "dog"]);
    }
}
