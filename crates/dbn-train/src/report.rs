//! `report.html`: one page per run folder bringing its summary, data, charts, pictures and
//! settings together. It links the folder's own files by relative paths and loads nothing from
//! elsewhere, so it opens offline, and moves with the folder.

use std::error::Error;

use dbn_data::Standardization;
use serde::Deserialize;
use serde_json::Value;

use crate::confusion::Confusion;
use crate::run_dir::RunDir;

/// The charts and pictures a run may hold, with their captions, in the order shown.
const FIGURES: [(&str, &str); 10] = [
    (
        "reconstruction-error.png",
        "Pretraining: reconstruction error per epoch",
    ),
    (
        "free-energy-gap.png",
        "Pretraining: free-energy gap per epoch",
    ),
    ("finetune-loss.png", "Fine-tuning: loss per epoch"),
    ("finetune-accuracy.png", "Fine-tuning: accuracy per epoch"),
    (
        "filters.png",
        "Layer-1 filters (weights of 100 hidden units)",
    ),
    ("samples.png", "Samples of the pretrained stack"),
    (
        "samples-by-class.png",
        "Samples of each class (label clamped in the top RBM)",
    ),
    (
        "reconstructions.png",
        "Test examples (top) and their reconstruction through the stack",
    ),
    ("samples-updown.png", "Samples after up-down"),
    (
        "samples-by-class-updown.png",
        "Samples of each class after up-down",
    ),
];

/// Files of a run listed at the end of the report, when present.
const FILES: [&str; 15] = [
    "summary.json",
    "config.json",
    "data.json",
    "dbn.json",
    "dbn.mpk",
    "classifier.json",
    "classifier.mpk",
    "updown.json",
    "updown.mpk",
    "pretrain-metrics.csv",
    "finetune-metrics.csv",
    "refit-metrics.csv",
    "updown-metrics.csv",
    "confusion.csv",
    "report.html",
];

/// `text` with HTML's special characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as a table cell: shares (a key ending in `error`) as percentages, numbers as
/// they are, `null` as `none`, other values as compact JSON.
fn cell(key: &str, value: &Value) -> String {
    match value {
        Value::Number(n) if key.ends_with("error") => match n.as_f64() {
            Some(x) => format!("{:.2}%", 100.0 * x),
            None => n.to_string(),
        },
        Value::Number(n) if key.ends_with("seconds") => match n.as_f64() {
            Some(x) => format!("{x:.1} s"),
            None => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

/// The rows of a table of a JSON object's fields; `skip` leaves fields out.
fn table(object: &Value, skip: &[&str]) -> String {
    let Some(fields) = object.as_object() else {
        return String::new();
    };
    let mut html = String::from("<table>\n");
    for (key, value) in fields.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
        html.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            escape(key),
            escape(&cell(key, value))
        ));
    }
    html.push_str("</table>\n");
    html
}

/// The JSON file `name` of the run, if it is there and parses.
fn json(run: &RunDir, name: &str) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(run.file(name)).ok()?).ok()
}

/// The report's HTML for the files now in `run`.
pub fn report_html(run: &RunDir) -> String {
    let folder = run.path().display().to_string();
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>dbn run: {title}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 2em auto; padding: 0 1em; max-width: 1320px; \
         color: #222; }}\n\
         table {{ border-collapse: collapse; margin-bottom: 1em; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}\n\
         th {{ background: #f3f3f3; font-weight: normal; }}\n\
         figure {{ display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }}\n\
         figure img {{ max-width: 100%; border: 1px solid #ddd; }}\n\
         pre {{ background: #f7f7f7; padding: 1em; overflow-x: auto; }}\n\
         </style>\n</head>\n<body>\n<h1>dbn run: {title}</h1>\n",
        title = escape(&folder)
    );
    if let Some(summary) = json(run, "summary.json") {
        html.push_str("<h2>Summary</h2>\n");
        html.push_str(&table(&summary, &[]));
    }
    if let Some(data) = json(run, "data.json") {
        html.push_str("<h2>Data</h2>\n");
        html.push_str(&table(&data, &["standardization"]));
        if data["standardization"].is_object() {
            let scaling = Standardization::deserialize(&data["standardization"]);
            html.push_str(if scaling.is_ok_and(|s| s.is_grey_levels()) {
                "<p>Features read as 8-bit grey levels and divided by 255 (in data.json).</p>\n"
            } else {
                "<p>Features standardised with the training examples' mean and standard \
                 deviation (in data.json).</p>\n"
            });
        }
    }
    let confusion = std::fs::read_to_string(run.file("confusion.csv")).ok();
    if let Some((counted, names)) = confusion.as_deref().and_then(Confusion::from_csv) {
        html.push_str("<h2>Test examples by class (confusion.csv)</h2>\n");
        html.push_str(&counted.html(&names));
    }
    let figures: Vec<_> = FIGURES
        .iter()
        .filter(|(name, _)| run.file(name).is_file())
        .collect();
    if !figures.is_empty() {
        html.push_str("<h2>Charts and pictures</h2>\n");
        for (name, caption) in figures {
            html.push_str(&format!(
                "<figure><img src=\"{name}\" alt=\"{caption}\"><figcaption>{caption} \
                 (<a href=\"{name}\">{name}</a>)</figcaption></figure>\n",
                caption = escape(caption)
            ));
        }
    }
    if let Some(config) = json(run, "config.json") {
        let pretty = serde_json::to_string_pretty(&config).unwrap_or_default();
        html.push_str("<h2>Settings (config.json)</h2>\n<pre>");
        html.push_str(&escape(&pretty));
        html.push_str("</pre>\n");
    }
    let files: Vec<_> = FILES
        .iter()
        .filter(|name| run.file(name).is_file())
        .collect();
    html.push_str("<h2>Files</h2>\n<ul>\n");
    for name in files {
        html.push_str(&format!("<li><a href=\"{name}\">{name}</a></li>\n"));
    }
    html.push_str("</ul>\n</body>\n</html>\n");
    html
}

/// Writes `report.html` into the run folder.
///
/// # Errors
/// A file that cannot be written, named.
pub fn write_report(run: &RunDir) -> Result<(), Box<dyn Error>> {
    Ok(run.write("report.html", report_html(run).as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_dir::Existing;

    #[test]
    fn the_report_shows_the_summary_the_figures_present_and_escapes_text() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::prepare(&root.path().join("a<b"), Existing::Refuse).unwrap();
        run.write(
            "summary.json",
            br#"{"test_error": 0.0152, "command": "train", "test_split": null}"#,
        )
        .unwrap();
        run.write("config.json", br#"{"seed": 42, "note": "<script>"}"#)
            .unwrap();
        run.write("filters.png", b"not really a png").unwrap();
        run.write("confusion.csv", b"class,x,y\nx,3,1\ny,0,4\n")
            .unwrap();
        write_report(&run).unwrap();
        let html = std::fs::read_to_string(run.file("report.html")).unwrap();
        assert!(
            html.contains("<tr><th>test_error</th><td>1.52%</td></tr>"),
            "{html}"
        );
        assert!(
            html.contains("<tr><th>test_split</th><td>none</td></tr>"),
            "{html}"
        );
        assert!(html.contains("<img src=\"filters.png\""), "{html}");
        assert!(
            html.contains("<tr><th>x</th><td>4</td><td>75.0%</td><td>100.0%</td>"),
            "{html}"
        );
        assert!(
            !html.contains("samples.png"),
            "absent pictures are left out"
        );
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
        assert!(html.contains("dbn run: ") && html.contains("a&lt;b"));
        assert!(!html.contains("http"), "nothing is loaded from elsewhere");
    }

    #[test]
    fn the_report_tells_grey_levels_from_a_standardisation() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::prepare(&root.path().join("run"), Existing::Refuse).unwrap();
        for (scaling, says) in [
            (Standardization::grey_levels(2), "divided by 255"),
            (
                Standardization {
                    mean: vec![3.0, 1.0],
                    scale: vec![2.0, 1.0],
                },
                "standardised",
            ),
        ] {
            let data = serde_json::json!({"visible": "Bernoulli", "standardization": scaling});
            run.write("data.json", data.to_string().as_bytes()).unwrap();
            write_report(&run).unwrap();
            let html = std::fs::read_to_string(run.file("report.html")).unwrap();
            assert!(html.contains(says), "{html}");
        }
    }
}
