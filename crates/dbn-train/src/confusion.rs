//! Test examples counted by their class and the class a classifier gave them: the test error,
//! each class's recall and precision, and the confusion matrix, which `dbn train`, `dbn
//! finetune` and `dbn evaluate` print under the test error and write as `confusion.csv`. On
//! data of unequal classes the test error alone hides a class the model never gets right: 1%
//! of the examples, 1% of the error.

use std::collections::BTreeMap;

use dbn_data::class_name;

use crate::report::escape;

/// The most classes whose confusion matrix is printed as columns (the rows print for any
/// number, up to [`MAX_ROWS`]).
pub const MAX_PRINTED_COLUMNS: usize = 12;

/// The most classes printed one per row; beyond, the [`MAX_ROWS`] of lowest recall.
pub const MAX_ROWS: usize = 30;

/// The most classes whose confusion matrix is written as a file (a million cells).
pub const MAX_FILE_CLASSES: usize = 1000;

/// Examples counted by true class and predicted class: a confusion matrix, kept sparse (only
/// the pairs that occur), so that data of many classes cost their examples, not classes².
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Confusion {
    classes: usize,
    counts: BTreeMap<(usize, usize), u64>,
}

impl Confusion {
    /// No examples yet, of `classes` classes (`0..classes`; a class beyond, once counted,
    /// widens it).
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            counts: BTreeMap::new(),
        }
    }

    /// `self` with one example more for each pair of `truth[i]` and `predicted[i]`.
    ///
    /// # Panics
    /// When the two are not of one length.
    pub fn add(mut self, truth: &[usize], predicted: &[usize]) -> Self {
        assert_eq!(truth.len(), predicted.len(), "a prediction per example");
        for (&t, &p) in truth.iter().zip(predicted) {
            *self.counts.entry((t, p)).or_default() += 1;
            self.classes = self.classes.max(t + 1).max(p + 1);
        }
        self
    }

    /// The classes, `0..classes()`.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Examples counted.
    pub fn examples(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Examples of class `truth` predicted as `predicted`.
    pub fn count(&self, truth: usize, predicted: usize) -> u64 {
        self.counts.get(&(truth, predicted)).copied().unwrap_or(0)
    }

    /// Share of the examples predicted wrong, in [0, 1] (NaN of no examples).
    pub fn error(&self) -> f64 {
        let right: u64 = (0..self.classes).map(|k| self.count(k, k)).sum();
        let all = self.examples();
        (all - right) as f64 / all as f64
    }

    /// Examples of each class (the rows' sums) and predictions of each class (the columns'),
    /// `[classes]` each.
    fn margins(&self) -> (Vec<u64>, Vec<u64>) {
        let mut of_class = vec![0; self.classes];
        let mut predicted_as = vec![0; self.classes];
        for (&(t, p), &n) in &self.counts {
            of_class[t] += n;
            predicted_as[p] += n;
        }
        (of_class, predicted_as)
    }

    /// Each class's recall (the share of its examples predicted right; `None` without
    /// examples) and precision (the share of its predictions that are right; 0 for a class of
    /// examples that is never predicted, as scikit-learn's `zero_division=0`, so that the mean
    /// counts the class a model never answers; `None` for a class neither in the examples nor
    /// predicted).
    pub fn per_class(&self) -> Vec<ClassFigures> {
        let (of_class, predicted_as) = self.margins();
        let share = |right: u64, of: u64| (of > 0).then(|| right as f64 / of as f64);
        (0..self.classes)
            .map(|k| {
                let right = self.count(k, k);
                let never_predicted = (of_class[k] > 0).then_some(0.0);
                ClassFigures {
                    examples: of_class[k],
                    recall: share(right, of_class[k]),
                    precision: share(right, predicted_as[k]).or(never_predicted),
                }
            })
            .collect()
    }

    /// The per-class figures as printed under the test error: a row per class (by its
    /// `names` where the data named the classes; at most [`MAX_ROWS`], those of lowest recall
    /// where there are more), its examples, recall and precision, the predictions of each
    /// class as columns (up to [`MAX_PRINTED_COLUMNS`] classes), and the averages.
    pub fn table(&self, names: &[String]) -> String {
        let figures = self.per_class();
        let name = |k: usize| class_name(names, k);
        let mut rows: Vec<usize> = (0..self.classes).collect();
        let mut heading = "by class (rows: the true class)".to_string();
        if rows.len() > MAX_ROWS {
            rows.sort_by(|&a, &b| {
                let recall = |k: usize| figures[k].recall.unwrap_or(f64::INFINITY);
                recall(a).total_cmp(&recall(b)).then(a.cmp(&b))
            });
            rows.truncate(MAX_ROWS);
            heading = format!(
                "by class: the {MAX_ROWS} of lowest recall, of {} classes",
                self.classes
            );
        }
        let columns: Vec<usize> = match self.classes <= MAX_PRINTED_COLUMNS {
            true => (0..self.classes).collect(),
            false => Vec::new(),
        };
        if !columns.is_empty() {
            heading.push_str("; columns: predicted as");
        }
        let width = rows.iter().fold(5, |w, &k| w.max(name(k).chars().count()));
        let cell = |k: usize| name(k).chars().count().max(5);
        let mut text = format!(
            "{heading}\n  {:<width$}  examples  recall  precision",
            "class"
        );
        for &p in &columns {
            text += &format!("  {:>w$}", name(p), w = cell(p));
        }
        for &k in &rows {
            let ClassFigures {
                examples,
                recall,
                precision,
            } = figures[k];
            text += &format!(
                "\n  {:<width$}  {examples:>8}  {:>6}  {:>9}",
                name(k),
                percent(recall),
                percent(precision)
            );
            for &p in &columns {
                text += &format!("  {:>w$}", self.count(k, p), w = cell(p));
            }
        }
        let [recall, precision] = means(&figures);
        text += &format!(
            "\n  {:<width$}  {:>8}  {:>6}  {:>9}",
            "mean",
            "",
            percent(recall),
            percent(precision)
        );
        text
    }

    /// The confusion matrix as CSV: a header `class` then each predicted class, then a row per
    /// true class, its name then its counts (class names where the data named them, else
    /// indices), quoted where CSV needs it.
    pub fn csv(&self, names: &[String]) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let classes = (0..self.classes).map(|k| class_name(names, k));
        let header = std::iter::once("class".to_string()).chain(classes);
        writer.write_record(header).expect("writing to memory");
        for t in 0..self.classes {
            let counts = (0..self.classes).map(|p| self.count(t, p).to_string());
            let row = std::iter::once(class_name(names, t)).chain(counts);
            writer.write_record(row).expect("writing to memory");
        }
        String::from_utf8(writer.into_inner().expect("writing to memory")).expect("UTF-8 text")
    }

    /// The confusion matrix of [`Confusion::csv`]'s `text`, and its classes' names as its
    /// header gives them; `None` for text of another shape (not a square of counts).
    pub fn from_csv(text: &str) -> Option<(Self, Vec<String>)> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let names: Vec<String> = reader
            .headers()
            .ok()?
            .iter()
            .skip(1)
            .map(String::from)
            .collect();
        let mut counted = Confusion::new(names.len());
        let mut rows = 0;
        for (t, record) in reader.records().enumerate() {
            let record = record.ok()?;
            if t >= names.len() || record.len() != names.len() + 1 {
                return None;
            }
            for (p, cell) in record.iter().skip(1).enumerate() {
                let n: u64 = cell.parse().ok()?;
                if n > 0 {
                    counted.counts.insert((t, p), n);
                }
            }
            rows += 1;
        }
        (rows == names.len()).then_some((counted, names))
    }

    /// The per-class figures as an HTML table, for the run's report: a row per class (by its
    /// `names`), its examples, recall and precision, and the predictions of each class as
    /// columns (up to [`MAX_ROWS`] classes), then a row of the means of recall and precision;
    /// every name escaped.
    pub fn html(&self, names: &[String]) -> String {
        let name = |k: usize| escape(&class_name(names, k));
        let columns = match self.classes <= MAX_ROWS {
            true => 0..self.classes,
            false => 0..0,
        };
        let mut html = String::from(
            "<table>\n<tr><th>class</th><th>examples</th><th>recall</th><th>precision</th>",
        );
        for p in columns.clone() {
            html += &format!("<th>predicted {}</th>", name(p));
        }
        html += "</tr>\n";
        let figures = self.per_class();
        for (k, figures) in figures.iter().enumerate() {
            html += &format!(
                "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td>",
                name(k),
                figures.examples,
                percent(figures.recall),
                percent(figures.precision)
            );
            for p in columns.clone() {
                let count = self.count(k, p);
                html += &match p == k {
                    true => format!("<td><b>{count}</b></td>"),
                    false => format!("<td>{count}</td>"),
                };
            }
            html += "</tr>\n";
        }
        let [recall, precision] = means(&figures);
        html += &format!(
            "<tr><th>mean</th><td></td><td>{}</td><td>{}</td>",
            percent(recall),
            percent(precision)
        );
        html += &"<td></td>".repeat(columns.len());
        html + "</tr>\n</table>\n"
    }
}

/// A share as a percentage of one decimal, `-` for none.
fn percent(share: Option<f64>) -> String {
    share.map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v))
}

/// One class's row of [`Confusion::per_class`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassFigures {
    /// Examples of the class.
    pub examples: u64,
    /// Share of them predicted right; `None` without examples.
    pub recall: Option<f64>,
    /// Share of the predictions of the class that are right; 0 where none predicted a class
    /// of examples, `None` where the class has neither.
    pub precision: Option<f64>,
}

/// The mean of the classes' recalls, and of their precisions, each over the classes that have
/// one.
fn means(figures: &[ClassFigures]) -> [Option<f64>; 2] {
    [
        mean(figures.iter().filter_map(|c| c.recall)),
        mean(figures.iter().filter_map(|c| c.precision)),
    ]
}

/// The mean of `values`, `None` of none.
fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten examples of three classes: class 0's six all right, class 1's three one right
    /// (two predicted 0), class 2's one predicted 1.
    fn ten() -> Confusion {
        let truth = [0, 0, 0, 0, 0, 0, 1, 1, 1, 2];
        let predicted = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
        Confusion::new(3)
            .add(&truth[..5], &predicted[..5])
            .add(&truth[5..], &predicted[5..])
    }

    #[test]
    fn counts_give_the_error_recall_and_precision() {
        let c = ten();
        assert_eq!((c.classes(), c.examples()), (3, 10));
        assert_eq!(
            (c.count(0, 0), c.count(1, 0), c.count(2, 1), c.count(2, 2)),
            (6, 2, 1, 0)
        );
        assert!((c.error() - 0.3).abs() < 1e-12);
        let figures = c.per_class();
        assert_eq!(
            figures.iter().map(|f| f.examples).collect::<Vec<_>>(),
            [6, 3, 1]
        );
        assert_eq!(figures[0].recall, Some(1.0));
        assert_eq!(figures[0].precision, Some(0.75));
        assert_eq!(figures[1].recall, Some(1.0 / 3.0));
        assert_eq!(figures[1].precision, Some(0.5));
        // Class 2 is never predicted: precision 0, so that the mean counts it.
        assert_eq!(
            (figures[2].recall, figures[2].precision),
            (Some(0.0), Some(0.0))
        );
    }

    #[test]
    fn a_class_beyond_widens_and_an_empty_confusion_has_no_error() {
        let c = Confusion::new(2).add(&[0, 4], &[3, 0]);
        assert_eq!(c.classes(), 5);
        // Class 1: neither examples nor predictions; class 3: predicted, without examples.
        assert_eq!(
            (c.per_class()[1].recall, c.per_class()[1].precision),
            (None, None)
        );
        assert_eq!(
            (c.per_class()[3].recall, c.per_class()[3].precision),
            (None, Some(0.0))
        );
        assert!(Confusion::new(2).error().is_nan());
        assert!(
            Confusion::new(2)
                .per_class()
                .iter()
                .all(|c| c.recall.is_none())
        );
    }

    #[test]
    fn the_table_names_the_classes_and_prints_the_matrix() {
        let names: Vec<String> = ["setosa", "versicolor", "virginica"]
            .map(String::from)
            .into();
        let table = ten().table(&names);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 6, "{table}");
        assert!(lines[0].contains("columns: predicted as"), "{table}");
        let words = |line: &str| {
            line.split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            words(lines[1]),
            [
                "class",
                "examples",
                "recall",
                "precision",
                "setosa",
                "versicolor",
                "virginica"
            ]
        );
        assert_eq!(
            words(lines[3]),
            ["versicolor", "3", "33.3%", "50.0%", "2", "1", "0"]
        );
        assert_eq!(
            words(lines[4]),
            ["virginica", "1", "0.0%", "0.0%", "0", "1", "0"]
        );
        // Recall (1 + 1/3 + 0) / 3, precision (3/4 + 1/2 + 0) / 3: scikit-learn's macro means.
        assert_eq!(words(lines[5]), ["mean", "44.4%", "41.7%"]);
        // Unnamed classes are their indices.
        assert_eq!(words(ten().table(&[]).lines().nth(2).unwrap())[0], "0");
    }

    #[test]
    fn many_classes_print_the_worst_rows_without_columns() {
        // 40 classes, each of two examples; class k is right k % 3 times of 2 (at most 2).
        let truth: Vec<usize> = (0..80).map(|i| i / 2).collect();
        let predicted: Vec<usize> = (0..80)
            .map(|i| {
                if i % 2 < (i / 2) % 3 {
                    i / 2
                } else {
                    (i / 2 + 1) % 40
                }
            })
            .collect();
        let table = Confusion::new(40).add(&truth, &predicted).table(&[]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2 + MAX_ROWS + 1, "{table}");
        assert!(lines[0].contains("the 30 of lowest recall, of 40 classes"));
        assert!(!lines[0].contains("columns"), "{table}");
        // Classes 0, 3, ..., 39 (14 of recall 0) come first, in order.
        assert!(lines[2].trim_start().starts_with("0 "), "{table}");
        assert!(lines[3].trim_start().starts_with("3 "), "{table}");
        assert_eq!(lines[2].split_whitespace().count(), 4, "{table}");
    }

    #[test]
    fn the_csv_quotes_names_holds_every_count_and_reads_back() {
        let names: Vec<String> = ["a,b", "c\"d", "e"].map(String::from).into();
        let text = ten().csv(&names);
        assert_eq!(
            text,
            "class,\"a,b\",\"c\"\"d\",e\n\"a,b\",6,0,0\n\"c\"\"d\",2,1,0\ne,0,1,0\n"
        );
        assert_eq!(Confusion::from_csv(&text), Some((ten(), names)));
        // Unnamed classes are named by their indices, which read back as names.
        let (back, indices) = Confusion::from_csv(&ten().csv(&[])).unwrap();
        assert_eq!(
            (back, indices),
            (ten(), vec!["0".into(), "1".into(), "2".into()])
        );
        // Not a square of counts.
        assert_eq!(Confusion::from_csv("class,a,b\na,1,2\n"), None);
        assert_eq!(Confusion::from_csv("class,a\na,x\n"), None);
    }

    #[test]
    fn the_html_table_escapes_names_and_marks_the_right_predictions() {
        let names: Vec<String> = ["<a>", "b", "c"].map(String::from).into();
        let html = ten().html(&names);
        assert!(html.contains("<th>predicted &lt;a&gt;</th>"), "{html}");
        assert!(
            html.contains("<tr><th>b</th><td>3</td><td>33.3%</td><td>50.0%</td><td>2</td><td><b>1</b></td><td>0</td></tr>"),
            "{html}"
        );
        // The header, a row per class, and the means' row, as the printed table's.
        assert!(
            html.contains("<tr><th>mean</th><td></td><td>44.4%</td><td>41.7%</td><td></td><td></td><td></td></tr>"),
            "{html}"
        );
        assert_eq!(html.matches("<tr>").count(), 5, "{html}");
    }
}
