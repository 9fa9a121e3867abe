//! The library half of the `dbn` command: settings, the training pipeline, fine-tuning through
//! burn-train, run folders and pictures, all generic over the backend. The binary (`src/main.rs`)
//! adds the command line, the benchmark and the one place where a cargo feature picks the
//! backend; the fuzz targets (`fuzz/`) read settings through [`config`].

pub mod config;
pub mod finetune;
pub mod history;
pub mod pictures;
pub mod pipeline;
pub mod renderer;
pub mod run;
pub mod sgd;
