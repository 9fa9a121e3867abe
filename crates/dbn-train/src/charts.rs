//! Charts of a run's metrics, drawn with plotters from the CSV files the run wrote: axes with
//! tick labels and units, a legend and a title, in DejaVu Sans embedded in the binary (so that
//! a machine without fonts draws them too).
//!
//! - `reconstruction-error.png`: pretraining's reconstruction error per epoch, training and
//!   validation, one panel per layer (`pretrain-metrics.csv`);
//! - `free-energy-gap.png`: the free-energy gap per epoch, one panel per layer;
//! - `finetune-loss.png` and `finetune-accuracy.png`: fine-tuning's loss and accuracy per
//!   epoch, training and validation (`finetune-metrics.csv`, and the refit's training figures
//!   from `refit-metrics.csv`).

use std::error::Error;
use std::path::Path;
use std::sync::Once;

use image::RgbImage;
use plotters::prelude::*;

use crate::pictures::save_png;
use crate::run_dir::RunDir;

/// Size of a chart panel, pixels.
const PANEL: (u32, u32) = (640, 400);

/// The font family the charts ask for, registered from the embedded DejaVu Sans.
const FONT: &str = "sans-serif";

/// Line colours, in the order of a chart's series (Tableau's first four).
const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

/// One line of a chart: its legend and its (x, y) points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The legend's text.
    pub name: String,
    /// The points, in order of x.
    pub points: Vec<(f64, f64)>,
}

/// One panel: a title, the axes' descriptions (with units) and its lines.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    /// The title above the panel.
    pub title: String,
    /// The x axis, with its unit.
    pub x_label: String,
    /// The y axis, with its unit.
    pub y_label: String,
    /// The lines; those without points are left out.
    pub series: Vec<Series>,
}

/// A CSV file of numbers with a header, as the run writes its metrics: empty cells are `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// The column names.
    pub header: Vec<String>,
    /// The rows, one cell per column.
    pub rows: Vec<Vec<Option<f64>>>,
}

impl Metrics {
    /// Reads `path`; `None` when it does not exist or has no rows.
    pub fn read(path: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut lines = text.lines();
        let header: Vec<String> = lines.next()?.split(',').map(str::to_string).collect();
        let rows: Vec<Vec<Option<f64>>> = lines
            .map(|line| line.split(',').map(|cell| cell.parse().ok()).collect())
            .collect();
        (!rows.is_empty()).then_some(Self { header, rows })
    }

    /// The (x, y) points of the columns `x` and `y` over the rows `keep` accepts, skipping
    /// empty cells.
    pub fn points(
        &self,
        x: &str,
        y: &str,
        keep: impl Fn(&[Option<f64>]) -> bool,
    ) -> Vec<(f64, f64)> {
        let column = |name: &str| self.header.iter().position(|h| h == name);
        let (Some(x), Some(y)) = (column(x), column(y)) else {
            return Vec::new();
        };
        self.rows
            .iter()
            .filter(|row| keep(row))
            .filter_map(|row| Some((row.get(x).copied()??, row.get(y).copied()??)))
            .collect()
    }

    /// The distinct values of column `name`, in order of first appearance.
    pub fn distinct(&self, name: &str) -> Vec<f64> {
        let Some(at) = self.header.iter().position(|h| h == name) else {
            return Vec::new();
        };
        let mut values: Vec<f64> = Vec::new();
        for v in self
            .rows
            .iter()
            .filter_map(|row| row.get(at).copied().flatten())
        {
            if !values.contains(&v) {
                values.push(v);
            }
        }
        values
    }
}

/// Registers the embedded font once per process.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Only fails on bytes that are not a font, which these are.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

/// `[lo, hi]` widened by 5% each side (by 1 for a single value), for an axis.
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    match (lo.is_finite(), hi - lo) {
        (false, _) => (0.0, 1.0),
        (true, d) if d <= 0.0 => (lo - 1.0, hi + 1.0),
        (true, d) => (lo - 0.05 * d, hi + 0.05 * d),
    }
}

/// Where the legend hides least: the lower right corner when the lines end high (a rising
/// accuracy), the upper right otherwise (a falling loss).
fn legend_corner(series: &[&Series], middle: f64) -> SeriesLabelPosition {
    let ends: Vec<f64> = series
        .iter()
        .filter_map(|s| s.points.last())
        .map(|p| p.1)
        .collect();
    let mean = ends.iter().sum::<f64>() / ends.len().max(1) as f64;
    if mean > middle {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperRight
    }
}

/// Draws `panels` side by side (at most two per row) as one RGB picture.
///
/// # Errors
/// A drawing error of plotters, as text.
pub fn draw(panels: &[Panel]) -> Result<RgbImage, Box<dyn Error>> {
    register_font();
    let columns = panels.len().clamp(1, 2);
    let rows = panels.len().div_ceil(columns).max(1);
    let (width, height) = (PANEL.0 * columns as u32, PANEL.1 * rows as u32);
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        for (area, panel) in root.split_evenly((rows, columns)).iter().zip(panels) {
            draw_panel(area, panel)?;
        }
        root.present()?;
    }
    RgbImage::from_raw(width, height, buffer).ok_or_else(|| "chart buffer size".into())
}

/// One panel on `area`.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
) -> Result<(), Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    let series: Vec<&Series> = panel
        .series
        .iter()
        .filter(|s| !s.points.is_empty())
        .collect();
    let points = || series.iter().flat_map(|s| s.points.iter());
    let (x0, x1) = padded(points().map(|p| p.0));
    let (y0, y1) = padded(points().map(|p| p.1));
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    // Epochs are whole: one tick each (at most 10 labelled), no fractions.
    let whole_ticks = ((x1 - x0).floor() as usize + 1).clamp(2, 10);
    let whole = |x: &f64| {
        if (x - x.round()).abs() < 1e-9 {
            format!("{x:.0}")
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_labels(whole_ticks)
        .x_label_formatter(&whole)
        .x_desc(&panel.x_label)
        .y_desc(&panel.y_label)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                colour.stroke_width(2),
            ))?
            .label(&s.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
    }
    if !series.is_empty() {
        chart
            .configure_series_labels()
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(legend_corner(&series, (y0 + y1) / 2.0))
            .draw()?;
    }
    Ok(())
}

/// The panels of pretraining's metrics: for each layer, `column` (training) and, if given,
/// `valid_column` per epoch.
fn per_layer_panels(
    metrics: &Metrics,
    title: &str,
    y_label: &str,
    lines: &[(&str, &str)],
) -> Vec<Panel> {
    metrics
        .distinct("layer")
        .into_iter()
        .map(|layer| Panel {
            title: format!("{title}, layer {layer}"),
            x_label: "epoch".into(),
            y_label: y_label.into(),
            series: lines
                .iter()
                .map(|&(column, name)| Series {
                    name: name.into(),
                    points: metrics.points("epoch", column, |row| row[0] == Some(layer)),
                })
                .collect(),
        })
        .collect()
}

/// Writes every chart the run's metric files allow, and returns the names written.
///
/// # Errors
/// A chart that cannot be drawn or written, naming it.
pub fn write_charts(run: &RunDir) -> Result<Vec<&'static str>, Box<dyn Error>> {
    let mut charts: Vec<(&'static str, Vec<Panel>)> = Vec::new();
    if let Some(metrics) = Metrics::read(&run.file("pretrain-metrics.csv")) {
        charts.push((
            "reconstruction-error.png",
            per_layer_panels(
                &metrics,
                "Pretraining: reconstruction error",
                "squared error per example",
                &[
                    ("reconstruction_error", "training"),
                    ("valid_reconstruction_error", "validation"),
                ],
            ),
        ));
        let gap = per_layer_panels(
            &metrics,
            "Free-energy gap",
            "validation - training (nats)",
            &[("free_energy_gap", "validation - training")],
        );
        if gap
            .iter()
            .any(|p| p.series.iter().any(|s| !s.points.is_empty()))
        {
            charts.push(("free-energy-gap.png", gap));
        }
    }
    if let Some(metrics) = Metrics::read(&run.file("finetune-metrics.csv")) {
        let refit = Metrics::read(&run.file("refit-metrics.csv"));
        let line = |metrics: &Metrics, column: &str, name: &str| Series {
            name: name.into(),
            points: metrics.points("epoch", column, |_| true),
        };
        for (file, column, title, unit) in [
            (
                "finetune-loss.png",
                "loss",
                "Fine-tuning: loss",
                "cross-entropy (nats)",
            ),
            (
                "finetune-accuracy.png",
                "accuracy",
                "Fine-tuning: accuracy",
                "accuracy (%)",
            ),
        ] {
            let mut series = vec![
                line(&metrics, &format!("train_{column}"), "training"),
                line(&metrics, &format!("valid_{column}"), "validation"),
            ];
            if let Some(refit) = &refit {
                series.push(line(refit, &format!("train_{column}"), "refit, training"));
            }
            charts.push((
                file,
                vec![Panel {
                    title: title.into(),
                    x_label: "epoch".into(),
                    y_label: unit.into(),
                    series,
                }],
            ));
        }
    }
    let mut written = Vec::new();
    for (name, panels) in charts {
        let picture = draw(&panels).map_err(|e| format!("{name}: {e}"))?;
        save_png(picture, &run.file(name))?;
        written.push(name);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_read_with_empty_cells_and_selected_by_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        std::fs::write(&path, "layer,epoch,e,v\n1,1,3.5,\n1,2,2.5,2.0\n2,1,9,8\n").unwrap();
        let m = Metrics::read(&path).unwrap();
        assert_eq!(m.distinct("layer"), [1.0, 2.0]);
        assert_eq!(m.points("epoch", "v", |_| true), [(2.0, 2.0), (1.0, 8.0)]);
        let layer1 = m.points("epoch", "e", |row| row[0] == Some(1.0));
        assert_eq!(layer1, [(1.0, 3.5), (2.0, 2.5)]);
        assert!(Metrics::read(&dir.path().join("none.csv")).is_none());
    }

    #[test]
    fn a_chart_has_its_size_its_lines_and_text() {
        let panel = Panel {
            title: "Loss".into(),
            x_label: "epoch".into(),
            y_label: "nats".into(),
            series: vec![
                Series {
                    name: "training".into(),
                    points: vec![(1.0, 2.0), (2.0, 1.0), (3.0, 0.5)],
                },
                Series {
                    name: "validation".into(),
                    points: vec![(1.0, 2.2), (2.0, 1.4), (3.0, 1.2)],
                },
            ],
        };
        let one = draw(std::slice::from_ref(&panel)).unwrap();
        assert_eq!(one.dimensions(), PANEL);
        let three = draw(&[panel.clone(), panel.clone(), panel]).unwrap();
        assert_eq!(three.dimensions(), (2 * PANEL.0, 2 * PANEL.1));
        let count = |c: RGBColor| one.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count();
        assert!(count(COLOURS[0]) > 100 && count(COLOURS[1]) > 100);
        // Text and axes: dark pixels in the left margin (tick labels, the axis description).
        let dark = (0..70)
            .flat_map(|x| (0..PANEL.1).map(move |y| (x, y)))
            .filter(|&(x, y)| one.get_pixel(x, y).0.iter().all(|&c| c < 100))
            .count();
        assert!(dark > 200, "{dark} dark pixels in the label area");
    }

    #[test]
    fn a_single_point_gets_a_range() {
        assert_eq!(padded([2.0].into_iter()), (1.0, 3.0));
        assert_eq!(padded(std::iter::empty()), (0.0, 1.0));
        assert_eq!(padded([0.0, 10.0].into_iter()), (-0.5, 10.5));
    }
}
