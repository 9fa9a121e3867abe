//! The library half of the `dbn` command: settings, the commands and the stages of a run,
//! fine-tuning through burn-train, the benchmark, run folders and pictures, all generic over
//! the backend. The binary (`src/main.rs`, `src/cli.rs`) parses the flags, prints, and is the
//! one place where a cargo feature picks the backend; the fuzz targets (`fuzz/`) read settings through [`config`].
//!
//! - [`bench`]: `dbn bench`'s workloads, run on our side and by the PyTorch peer alternately.
//! - [`commands`]: each `dbn` command as a function of typed settings with a typed outcome.
//! - [`device`]: the device a command runs on, asked for at run time (`--device`), started and
//!   named.
//! - [`confusion`]: test examples counted by true and predicted class: per-class recall and
//!   precision, the confusion matrix.
//! - [`config`]: a run's settings ([`config::RunConfig`]), the presets, reading a JSON file.
//! - [`stages`]: the stages the commands share: data, pretraining, fine-tuning, refit,
//!   evaluation, pictures, `summary.json`.
//! - [`inputs`]: the input files of `dbn predict` and `dbn encode` (tables and pictures) as one
//!   matrix of the model's width.
//! - [`finetune`]: fine-tuning with burn-train's `Learner`, resumable bit for bit.
//! - [`learner_dir`]: the folder burn-train writes (metric logs, checkpoints), made safe to
//!   resume.
//! - [`sgd`]: the fine-tuning optimiser (momentum SGD in one fused pass) and its schedule.
//! - [`run_dir`]: a run's folder: never overwritten silently, every file written atomically.
//! - [`pictures`], [`renderer`]: PNG pictures, and the dashboard of pretraining.

pub mod bench;
pub mod charts;
pub mod commands;
pub mod config;
pub mod confusion;
pub mod device;
pub mod finetune;
pub mod inputs;
pub mod learner_dir;
pub mod pictures;
pub mod renderer;
pub mod report;
pub mod run_dir;
pub mod sgd;
pub mod stages;

/// Unit tests that seed the backend's generator (one per process on every backend of Burn
/// 0.21) take turns at it, so that a test running beside them cannot draw between their seed
/// and their draws.
#[cfg(test)]
pub(crate) fn generator_turn() -> std::sync::MutexGuard<'static, ()> {
    static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());
    GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
