//! The backend suite: the same checks on every backend of this build, instantiated by
//! [`backend_suite!`]: flex and ndarray always, wgpu with `--features wgpu` (in CI over Mesa's
//! lavapipe, a Vulkan driver on the CPU, so that every GPU code path runs without a GPU).
//!
//! Per backend: every check of `dbn_model::conformance` (the tutorial's Examples 1-3 to 1e-5,
//! CD and PCD's negative phase against the exact gradient, AIS against exact log Z, a save/load
//! round trip), then a small run end to end (`train`, `sample`, `evaluate`, `loglik`), each
//! checked against a bound a broken backend would miss and, on the other backends, against
//! flex's run of the same settings. The CPU backends run it through the library's commands; a
//! GPU backend through the `dbn` binary of this build, which is that backend's (instantiating
//! burn-train for a GPU backend a second time, in this test, would double the build).
//!
//! Where no Vulkan driver is installed the wgpu tests say so and pass, except under CI (`CI`
//! set), where `.ci/run` installs lavapipe and a missing driver fails.

mod common;

use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};

use burn::backend::{Autodiff, Flex, NdArray};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;
use dbn_data::{DEFAULT_VALIDATION, ImageBatcher, SplitSize, Splits, shipped_mnist_dir};
use dbn_model::conformance::correlation;
use dbn_model::{Dbn, load_module};
use dbn_train::commands::{self, LoglikSettings, RunRequest, SampleSettings};
use dbn_train::config::Preset;
use dbn_train::device::Devices;
use dbn_train::run_dir::Existing;
use dbn_train::stages::DataRequest;

/// What a small run measured, to compare between backends.
#[derive(Clone, Copy, Debug)]
struct Figures {
    /// Test error of `dbn train`.
    test_error: f64,
    /// Correlation of the mean generated image with the mean training image.
    sample_correlation: f64,
    /// `dbn loglik`'s average test log-likelihood, nats.
    log_likelihood: f64,
}

/// `dbn train` on 2,000 images (784-64-32, 2 CD epochs, 3 fine-tuning epochs, 1,000 validation
/// images), then `sample`, `evaluate` and `loglik` of what it saved, on backend `B`.
fn end_to_end<B: Backend>(name: &str, device: &B::Device) -> Figures {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("run");
    let data = DataRequest::folder(shipped_mnist_dir());
    let mut config = Preset::Quick.config();
    config.dbn.layers = vec![784, 64, 32];
    config.train_limit = Some(2000);
    config.validation = Some(SplitSize::Count(1000));
    config.pretrain.rbm.epochs = 2;
    config.finetune.epochs = 3;
    config.finetune.refit = false;
    // One schedule: the suite compares backends, not schedules.
    config.finetune.alternatives.clear();
    let request = RunRequest {
        command: "train",
        base: Preset::Quick.config(),
        pinned: Default::default(),
        config,
        data: data.clone(),
        out: out.clone(),
        existing: Existing::Refuse,
        backend: name,
        device: "the suite's",
        stack: None,
    };
    let run = commands::start(request).unwrap();
    let devices = Devices::one(device.clone());
    let summary = commands::train::<Autodiff<B>>(&run, &devices, true).unwrap();
    let test_error = summary.test_error.unwrap();

    let picture = out.join("samples-of-the-suite.png");
    let settings = SampleSettings {
        n: 16,
        steps: 100,
        seed: 7,
        ..SampleSettings::default()
    };
    commands::sample::<B>(&out, &settings, &picture, device).unwrap();
    let (width, height) = image::image_dimensions(&picture).unwrap();
    assert!(width > 4 * 28 && height > 28, "{width}x{height}");
    let sample_correlation = sample_correlation::<B>(&out, device);

    let evaluation = commands::evaluate::<B>(&out, &data, device).unwrap();
    let counted = &evaluation.confusion;
    assert_eq!((counted.examples(), counted.classes()), (10_000, 10));
    assert!(
        (counted.error() - test_error).abs() < 1e-12,
        "evaluate {} against train's {test_error}",
        counted.error()
    );
    // The run's confusion matrix is the one evaluate counts again.
    let written = std::fs::read_to_string(out.join("confusion.csv")).unwrap();
    assert_eq!(written, counted.csv(&[]));

    let settings = LoglikSettings {
        runs: 16,
        betas: 300,
        seed: 3,
        bound: false,
    };
    let loglik = commands::loglik::<B>(&out, &data, settings, device).unwrap();
    within_bounds(
        name,
        Figures {
            test_error,
            sample_correlation,
            log_likelihood: loglik.test,
        },
    )
}

/// The flags of [`end_to_end`]'s run (the settings it sets over the quick preset), for the
/// binary.
#[cfg(feature = "wgpu")]
const SMALL: &[&str] = &[
    "--layers",
    "784,64,32",
    "--train-limit",
    "2000",
    "--validation",
    "1000",
    "--pretrain-epochs",
    "2",
    "--finetune-epochs",
    "3",
    "--no-refit",
];

/// [`end_to_end`] through the `dbn` binary of this build, whose backend is `B`.
#[cfg(feature = "wgpu")]
fn end_to_end_by_binary<B: Backend>(name: &str, device: &B::Device) -> Figures {
    use common::{dbn, line_starting, ok};
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("run");
    let out_arg = out.to_str().unwrap();
    let mut args = vec!["train", "--out", out_arg];
    args.extend_from_slice(SMALL);
    let stdout = ok(&dbn(&args));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["backend"], name);
    let first = stdout.lines().next().unwrap();
    assert_eq!(
        first,
        format!("backend {name} on {}", summary["device"].as_str().unwrap())
    );
    let test_error = summary["test_error"].as_f64().unwrap();

    let picture = out.join("samples-of-the-suite.png");
    let picture_arg = picture.to_str().unwrap();
    let sample = ["sample", "--model", out_arg, "--n", "16", "--steps", "100"];
    ok(&dbn(
        &[&sample[..], &["--seed", "7", "--out", picture_arg]].concat()
    ));
    let (width, height) = image::image_dimensions(&picture).unwrap();
    assert!(width > 4 * 28 && height > 28, "{width}x{height}");
    let sample_correlation = sample_correlation::<B>(&out, device);

    // "test error: 19.74% (10000 examples)"
    let stdout = ok(&dbn(&["evaluate", "--model", out_arg]));
    let evaluated = line_starting(&stdout, "test error: ");
    assert_eq!(
        evaluated,
        format!("test error: {:.2}% (10000 examples)", 100.0 * test_error)
    );
    // "log Z = ...; average test log-likelihood -183.19 nats (...)"
    let loglik = [
        "loglik", "--model", out_arg, "--runs", "16", "--betas", "300",
    ];
    let stdout = ok(&dbn(&[&loglik[..], &["--seed", "3"]].concat()));
    let log_likelihood = line_starting(&stdout, "log Z = ")
        .split("average test log-likelihood ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no log-likelihood in {stdout}"));
    within_bounds(
        name,
        Figures {
            test_error,
            sample_correlation,
            log_likelihood,
        },
    )
}

/// `figures` within the bounds a working backend reaches on [`end_to_end`]'s run.
fn within_bounds(name: &str, figures: Figures) -> Figures {
    eprintln!("{name}: {figures:?}");
    let Figures {
        test_error,
        sample_correlation,
        log_likelihood,
    } = figures;
    // Chance is 90% test error. An RBM that learned nothing but its visible biases is the
    // base-rate model, -206 nats on these test images (an untrained one, -543, 784 ln 2); flex
    // reaches -183 here. The mean sample of a trained stack is the data's mean image (0.99 on
    // flex; an untrained stack's is not, 0.006 in dbn-model's tests/training/mnist.rs).
    assert!(test_error < 0.25, "{name}: test error {test_error}");
    assert!(
        sample_correlation > 0.5,
        "{name}: mean sample against the data, correlation {sample_correlation}"
    );
    assert!(
        (-195.0..-60.0).contains(&log_likelihood),
        "{name}: log-likelihood {log_likelihood}"
    );
    figures
}

/// Correlation of the mean of 200 images generated by the stack saved in `dir` (200 Gibbs
/// steps, seed 11) with the mean of the first 2,000 training images.
fn sample_correlation<B: Backend>(dir: &Path, device: &B::Device) -> f64 {
    let (dbn, _) = load_module::<B, Dbn<B>>(dir, device).unwrap();
    B::seed(device, 11);
    let generated: Vec<f32> = dbn
        .generate(200, 200)
        .probs
        .mean_dim(0)
        .into_data()
        .to_vec()
        .unwrap();
    let splits = Splits::load(shipped_mnist_dir(), DEFAULT_VALIDATION).unwrap();
    let train: Tensor<B, 2> =
        ImageBatcher::default().batch(splits.train.take(2000).iter().collect(), device);
    let data: Vec<f32> = train.mean_dim(0).into_data().to_vec().unwrap();
    correlation(&generated, &data)
}

/// Flex's figures, measured once per process (in flex's turn).
fn reference() -> Figures {
    static FLEX: OnceLock<Figures> = OnceLock::new();
    *FLEX.get_or_init(|| {
        let _turn = one_at_a_time(&flex::TURN);
        end_to_end::<Flex>("flex", &Default::default())
    })
}

/// `figures` agree with flex's run of the same settings: the backends draw different random
/// numbers, so the runs differ by their training noise, not by more.
fn agrees_with_flex(name: &str, figures: Figures) {
    let flex = reference();
    assert!(
        (figures.test_error - flex.test_error).abs() < 0.06,
        "{name} {figures:?} against flex {flex:?}"
    );
    assert!(
        (figures.log_likelihood - flex.log_likelihood).abs() < 15.0,
        "{name} {figures:?} against flex {flex:?}"
    );
    assert!(
        (figures.sample_correlation - flex.sample_correlation).abs() < 0.2,
        "{name} {figures:?} against flex {flex:?}"
    );
}

/// The device of a GPU backend, or `None` (after saying why) where it cannot start outside CI.
#[cfg(feature = "wgpu")]
fn gpu_device<B: dbn_train::device::RunBackend>() -> Option<B::Device> {
    use dbn_train::device::DeviceRequest;
    match dbn_train::device::start::<B>(DeviceRequest::Default) {
        Ok(started) => {
            eprintln!("{}: {}", B::NAME, started.name);
            Some(started.device)
        }
        Err(why) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {why}");
            None
        }
        Err(why) => panic!("{why} (CI installs lavapipe: .ci/run)"),
    }
}

/// One backend's tests take turns: each seeds the backend's process-wide generator.
fn one_at_a_time(lock: &'static Mutex<()>) -> MutexGuard<'static, ()> {
    lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The suite for one backend: `backend_suite!(module, Backend, device expression[, run])`,
/// the device an `Option` (`None` skips). With `run` (`end_to_end` or
/// `end_to_end_by_binary`), its figures are held against flex's; without, the module is flex's
/// and its run is the [`reference`].
macro_rules! backend_suite {
    ($module:ident, $backend:ty, $device:expr $(, $run:ident)?) => {
        mod $module {
            use super::*;

            pub(super) static TURN: Mutex<()> = Mutex::new(());

            #[test]
            fn conformance() {
                let _turn = one_at_a_time(&TURN);
                if let Some(device) = $device {
                    dbn_model::conformance::all::<Autodiff<$backend>>(&device);
                }
            }

            #[test]
            fn train_sample_evaluate_loglik() {
                $(
                    let _turn = one_at_a_time(&TURN);
                    if let Some(device) = $device {
                        let figures = $run::<$backend>(stringify!($module), &device);
                        agrees_with_flex(stringify!($module), figures);
                    }
                    return;
                )?
                #[allow(unreachable_code)]
                reference();
            }
        }
    };
}

backend_suite!(flex, Flex, Some(Default::default()));
backend_suite!(ndarray, NdArray, Some(Default::default()), end_to_end);
#[cfg(feature = "wgpu")]
backend_suite!(
    wgpu,
    burn::backend::Wgpu,
    gpu_device::<burn::backend::Wgpu>(),
    end_to_end_by_binary
);
