//! `dbn bench`: our contrastive divergence, DBN pretraining and fine-tuning epochs against the
//! same work in PyTorch (`benches/peer_torch.py`), timed in one run.
//!
//! Every workload runs on random Bernoulli(0.2) data held on the device, so that the figures
//! measure the training steps and not data loading; each is warmed up on a few batches first
//! (kernel compilation on GPUs, allocator pools on CPUs) and timed until its result is read
//! back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;
use burn::train::TrainStep;
use dbn_data::ClassificationBatch;
use dbn_model::kernels::in_thread_pool;
use dbn_model::{CdState, DbnClassifierConfig, Rbm, RbmConfig, RbmTrainingConfig};

use crate::finetune::LearnerModel;
use crate::sgd::FusedSgd;

/// One measured workload.
#[derive(Clone, Debug, PartialEq)]
pub enum Workload {
    /// One CD-1 epoch of one RBM.
    Cd1 {
        /// Visible units.
        n_visible: usize,
        /// Hidden units.
        n_hidden: usize,
        /// Mini-batch size.
        batch: usize,
    },
    /// One CD-1 epoch of every RBM of a stack, each on P(h | v) of the layer below.
    Pretrain {
        /// Layer sizes from the data up.
        sizes: Vec<usize>,
        /// Mini-batch size.
        batch: usize,
    },
    /// One epoch of SGD (momentum 0.9) on the softmax cross-entropy of a sigmoid net.
    Finetune {
        /// Layer sizes from the data up, the classes last.
        sizes: Vec<usize>,
        /// Mini-batch size.
        batch: usize,
        /// Dropout probabilities `[pixels, hidden units]` (`[0.0, 0.0]` for none).
        dropout: [f64; 2],
    },
}

fn dashed(sizes: &[usize]) -> String {
    sizes
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("-")
}

impl Workload {
    /// The workloads of issue 6's goal and of the peer's published table.
    pub fn standard() -> Vec<Self> {
        let cd1 = |n_visible, n_hidden, batch| Self::Cd1 {
            n_visible,
            n_hidden,
            batch,
        };
        vec![
            cd1(784, 500, 100),
            cd1(500, 2000, 100),
            cd1(784, 2000, 1000),
            Self::Pretrain {
                sizes: vec![784, 500, 500, 2000],
                batch: 100,
            },
            Self::Finetune {
                sizes: vec![784, 500, 500, 2000, 10],
                batch: 100,
                dropout: [0.0, 0.0],
            },
            // The hinton preset's fine-tuning.
            Self::Finetune {
                sizes: vec![784, 500, 500, 2000, 10],
                batch: 100,
                dropout: [0.1, 0.2],
            },
        ]
    }

    /// A short human name, e.g. `cd1 784x500 b100`.
    pub fn name(&self) -> String {
        match self {
            Self::Cd1 {
                n_visible,
                n_hidden,
                batch,
            } => format!("cd1 {n_visible}x{n_hidden} b{batch}"),
            Self::Pretrain { sizes, batch } => format!("pretrain {} b{batch}", dashed(sizes)),
            Self::Finetune {
                sizes,
                batch,
                dropout: [0.0, 0.0],
            } => format!("finetune {} b{batch}", dashed(sizes)),
            Self::Finetune {
                sizes,
                batch,
                dropout: [pixels, hidden],
            } => format!(
                "finetune {} b{batch} dropout {pixels}/{hidden}",
                dashed(sizes)
            ),
        }
    }

    /// Floating-point operations of the matrix products in one epoch of `examples` examples
    /// (2 per multiply-add): 5 GEMMs per CD-1 step (3 of them in the statistics and negative
    /// phase, 2 for the weight statistics) and, for fine-tuning, 3 per layer (forward, input
    /// gradient, weight gradient).
    pub fn flops(&self, examples: usize) -> f64 {
        let pairs = |sizes: &[usize]| -> f64 {
            sizes.windows(2).map(|w| (w[0] * w[1]) as f64).sum::<f64>()
        };
        let per_example = match self {
            Self::Cd1 {
                n_visible,
                n_hidden,
                ..
            } => 5.0 * pairs(&[*n_visible, *n_hidden]),
            Self::Pretrain { sizes, .. } => 5.0 * pairs(sizes) + pairs(&sizes[..sizes.len() - 1]),
            Self::Finetune { sizes, .. } => 3.0 * pairs(sizes),
        };
        2.0 * per_example * examples as f64
    }

    /// The peer script's arguments for this workload.
    fn peer_args(&self, examples: usize) -> Vec<String> {
        let mut args = match self {
            Self::Cd1 {
                n_visible,
                n_hidden,
                batch,
            } => vec![
                "cd1".into(),
                n_visible.to_string(),
                n_hidden.to_string(),
                batch.to_string(),
            ],
            Self::Pretrain { sizes, batch } => {
                vec!["pretrain".into(), dashed(sizes), batch.to_string()]
            }
            Self::Finetune { sizes, batch, .. } => {
                vec!["finetune".into(), dashed(sizes), batch.to_string()]
            }
        };
        args.push(examples.to_string());
        if let Self::Finetune {
            dropout: [pixels, hidden],
            ..
        } = self
            && [*pixels, *hidden] != [0.0, 0.0]
        {
            args.extend([pixels.to_string(), hidden.to_string()]);
        }
        args
    }

    /// Runs the workload once on `B` (fine-tuning on `Autodiff<B>` as `A`) and returns the
    /// timed part's duration.
    pub fn run<A: AutodiffBackend>(&self, examples: usize, device: &A::Device) -> Duration {
        A::seed(device, 0);
        match self {
            Self::Cd1 {
                n_visible,
                n_hidden,
                batch,
            } => {
                let data = bernoulli_data::<A::InnerBackend>(examples, *n_visible, device);
                let rbm = RbmConfig::new(*n_visible, *n_hidden).init(device);
                let cd = RbmTrainingConfig::new().with_batch_size(*batch);
                let rbm = cd1_epoch(rbm, data.clone().slice(0..5 * batch), &cd);
                timed(|| {
                    let rbm = cd1_epoch(rbm, data, &cd);
                    rbm.weights.val().sum().into_scalar();
                })
            }
            Self::Pretrain { sizes, batch } => {
                let data = bernoulli_data::<A::InnerBackend>(examples, sizes[0], device);
                let cd = RbmTrainingConfig::new().with_batch_size(*batch);
                // Each RBM warmed up on a few batches of zeros of its input size.
                let rbms: Vec<Rbm<A::InnerBackend>> = sizes
                    .windows(2)
                    .map(|w| {
                        let rbm = RbmConfig::new(w[0], w[1]).init(device);
                        cd1_epoch(rbm, Tensor::zeros([5 * batch, w[0]], device), &cd)
                    })
                    .collect();
                timed(|| {
                    let mut x = data;
                    for rbm in rbms {
                        let rbm = cd1_epoch(rbm, x.clone(), &cd);
                        x = rbm.hidden_probs(x);
                    }
                    x.sum().into_scalar();
                })
            }
            Self::Finetune {
                sizes,
                batch,
                dropout: [pixels, hidden],
            } => {
                let data = bernoulli_data::<A>(examples, sizes[0], device);
                let labels = Tensor::<A, 1, Int>::random(
                    [examples],
                    Distribution::Uniform(0.0, sizes[sizes.len() - 1] as f64),
                    device,
                );
                let config = DbnClassifierConfig::new(sizes[..sizes.len() - 1].to_vec())
                    .with_n_outputs(sizes[sizes.len() - 1])
                    .with_input_dropout(*pixels)
                    .with_dropout(*hidden);
                let net = config.init::<A>(device).expect("bench sizes are valid");
                let model = LearnerModel::new(net);
                let model = sgd_epoch(
                    model,
                    data.clone().slice(0..5 * batch),
                    labels.clone(),
                    *batch,
                );
                timed(|| {
                    let model = sgd_epoch(model, data, labels, *batch);
                    model
                        .net
                        .forward(Tensor::zeros([1, sizes[0]], device))
                        .sum()
                        .into_scalar();
                })
            }
        }
    }
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// `[examples, n]` independent Bernoulli(0.2) values.
fn bernoulli_data<B: Backend>(examples: usize, n: usize, device: &B::Device) -> Tensor<B, 2> {
    Tensor::<B, 2>::random([examples, n], Distribution::Bernoulli(0.2), device)
}

/// One CD-1 epoch over `data` in order, with `cd`'s settings and its first epoch's rates, on
/// the thread pool as [`dbn_model::RbmTrainer::epoch`] runs.
fn cd1_epoch<B: Backend>(rbm: Rbm<B>, data: Tensor<B, 2>, cd: &RbmTrainingConfig) -> Rbm<B> {
    let [examples, _] = data.dims();
    let rates = cd.rates(1);
    in_thread_pool(|| {
        let mut state = CdState::new(&rbm);
        let mut rbm = rbm;
        for start in (0..examples).step_by(cd.batch_size) {
            let end = (start + cd.batch_size).min(examples);
            (rbm, state) = state.step(rbm, data.clone().slice(start..end), cd, rates);
        }
        rbm
    })
}

/// One epoch of SGD with momentum 0.9 and learning rate 0.5 (the fine-tuning defaults, and its
/// optimiser) over `data` in order.
fn sgd_epoch<A: AutodiffBackend>(
    model: LearnerModel<A>,
    data: Tensor<A, 2>,
    labels: Tensor<A, 1, Int>,
    batch: usize,
) -> LearnerModel<A> {
    let [examples, _] = data.dims();
    let mut optimizer = FusedSgd::new(0.9, 0.0).init();
    let mut model = model;
    for start in (0..examples).step_by(batch) {
        let end = (start + batch).min(examples);
        let batch = ClassificationBatch {
            images: data.clone().slice(start..end),
            targets: labels.clone().slice(start..end),
        };
        let grads: GradientsParams = model.step(batch).grads;
        model = optimizer.step(0.5, model, grads);
    }
    model
}

/// What the peer reported, or why it did not run.
pub enum Peer {
    /// Seconds of the same work, and the threads PyTorch used.
    Measured { seconds: f64, threads: usize },
    /// The peer could not run (no Python, no PyTorch, ...).
    Skipped(String),
}

/// How to run the peer: the interpreter, the script, and PyTorch's device (`cpu` or `cuda`).
pub struct PeerCommand<'a> {
    /// The Python interpreter.
    pub python: &'a Path,
    /// `benches/peer_torch.py` or a copy of it.
    pub script: &'a Path,
    /// PyTorch's device.
    pub device: &'a str,
}

/// Runs `python script --device DEVICE ARGS` and parses the one JSON object it prints; the reason otherwise
/// (no interpreter, no PyTorch, a crash: the last line of its error output).
fn run_script(peer: &PeerCommand<'_>, args: &[String]) -> Result<serde_json::Value, String> {
    let output = Command::new(peer.python)
        .arg(peer.script)
        .args(["--device", peer.device])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", peer.python.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(stderr.lines().last().unwrap_or("no message").to_string());
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("unreadable peer output: {e}"))
}

/// Runs `benches/peer_torch.py` with `python` on the same workload.
pub fn run_peer(peer: &PeerCommand<'_>, workload: &Workload, examples: usize) -> Peer {
    match run_script(peer, &workload.peer_args(examples)) {
        Ok(value) => match (value["seconds"].as_f64(), value["threads"].as_u64()) {
            (Some(seconds), Some(threads)) => Peer::Measured {
                seconds,
                threads: threads as usize,
            },
            _ => Peer::Skipped(format!("unexpected peer output: {value}")),
        },
        Err(why) => Peer::Skipped(why),
    }
}

/// The machine's SGEMM throughput as PyTorch reaches it (2048³, GFLOP/s).
pub fn peer_peak(peer: &PeerCommand<'_>) -> Result<f64, String> {
    let value = run_script(peer, &["peak".to_string()])?;
    value["gflops"]
        .as_f64()
        .ok_or_else(|| format!("unexpected peer output: {value}"))
}

/// The peer script next to the workspace this binary was built from.
pub fn default_peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/peer_torch.py")
}

/// Which workloads to run and against what.
pub struct BenchSettings<'a> {
    /// Examples per epoch.
    pub examples: usize,
    /// Runs of each workload (ours and the peer's alternating); the median is reported.
    pub repeat: usize,
    /// The PyTorch peer, or `None` to time our side only.
    pub peer: Option<PeerCommand<'a>>,
}

/// The peer's median on one workload.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerTime {
    /// Seconds.
    pub seconds: f64,
    /// The threads PyTorch used.
    pub threads: usize,
}

/// One workload's result: our median and, unless not asked, the peer's or why it was skipped.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchRow {
    /// The workload.
    pub workload: Workload,
    /// Our median, seconds.
    pub ours: f64,
    /// The peer's median, or why it was skipped; `None` without a peer.
    pub peer: Option<Result<PeerTime, String>>,
}

/// The standard workloads whose name contains `only` (all of them for `None`).
///
/// # Errors
/// The filter, when it matches no workload.
pub fn workloads(only: Option<&str>) -> Result<Vec<Workload>, String> {
    let chosen: Vec<Workload> = Workload::standard()
        .into_iter()
        .filter(|w| only.is_none_or(|only| w.name().contains(only)))
        .collect();
    match (chosen.is_empty(), only) {
        (true, Some(only)) => Err(format!("--only {only:?} matches no workload")),
        _ => Ok(chosen),
    }
}

/// Runs each workload `settings.repeat` times on `A`, alternating with the peer so that a
/// change in the machine's load hits both, and hands each workload's row to `on_row` as it is
/// done.
pub fn run_all<A: AutodiffBackend>(
    workloads: &[Workload],
    settings: &BenchSettings<'_>,
    device: &A::Device,
    mut on_row: impl FnMut(&BenchRow),
) {
    let median = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    for workload in workloads {
        let mut ours = Vec::new();
        let mut theirs: Result<Vec<f64>, String> = Ok(Vec::new());
        let mut threads = 0;
        for _ in 0..settings.repeat {
            ours.push(workload.run::<A>(settings.examples, device).as_secs_f64());
            let (Some(peer), Ok(runs)) = (&settings.peer, &mut theirs) else {
                continue;
            };
            match run_peer(peer, workload, settings.examples) {
                Peer::Measured {
                    seconds,
                    threads: t,
                } => {
                    runs.push(seconds);
                    threads = t;
                }
                Peer::Skipped(why) => theirs = Err(why),
            }
        }
        let peer = settings.peer.as_ref().map(|_| {
            theirs.map(|runs| PeerTime {
                seconds: median(runs),
                threads,
            })
        });
        on_row(&BenchRow {
            workload: workload.clone(),
            ours: median(ours),
            peer,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_count_five_gemms_per_cd_step() {
        let w = Workload::Cd1 {
            n_visible: 784,
            n_hidden: 500,
            batch: 100,
        };
        assert_eq!(w.flops(60_000), 2.0 * 5.0 * 784.0 * 500.0 * 60_000.0);
        assert_eq!(w.name(), "cd1 784x500 b100");
        assert_eq!(w.peer_args(60_000), ["cd1", "784", "500", "100", "60000"]);
        let dropout = Workload::Finetune {
            sizes: vec![784, 500, 10],
            batch: 100,
            dropout: [0.1, 0.2],
        };
        assert_eq!(dropout.name(), "finetune 784-500-10 b100 dropout 0.1/0.2");
        let args = dropout.peer_args(600);
        assert_eq!(args, ["finetune", "784-500-10", "100", "600", "0.1", "0.2"]);
    }
}
