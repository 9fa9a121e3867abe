//! `dbn bench`: our contrastive divergence, DBN pretraining and fine-tuning epochs against the
//! same work in PyTorch (`benches/peer_torch.py`), timed in one run.
//!
//! Each workload runs the code `dbn train` runs, with the quick preset's settings: a CD epoch
//! is [`RbmTrainer::epoch`] (shuffled mini-batches read from the data tensor, the divergence
//! check of every update), pretraining is [`DbnPretrainer::pretrain`] (data checks,
//! monitoring, a checkpoint after every epoch), a fine-tuning epoch is
//! [`finetune::first_epoch`] (the data set read through the batcher, the training step,
//! optimiser and schedule of [`finetune::finetune`], whose weights the tests hold it to). The
//! data are random Bernoulli(0.2) values, so that the figures measure the training and not
//! data loading; each workload is warmed up on a few batches first and timed until its result
//! is read back.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;
use dbn_data::{ExampleSet, Table};
use dbn_model::{
    Dbn, DbnClassifierConfig, DbnConfig, DbnPretrainer, Feed, Rbm, RbmConfig, RbmRun, RbmTrainer,
    RbmTrainingConfig, RunSeed,
};

use crate::config::{FinetuneConfig, Preset};
use crate::finetune;

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

    /// Runs the workload once on `A`'s inner backend (fine-tuning on `A`) through the code
    /// paths of `dbn train` ([`cd_epoch`], [`pretrain_epoch`], [`finetune::first_epoch`]) with
    /// the quick preset's settings, and returns the timed part's duration: the epoch, without
    /// what a run does once before its first (data checks, initial visible biases, the data
    /// set's decoding), after a warm-up on a few batches (kernel compilation on GPUs,
    /// allocator pools on CPUs).
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
                let trainer = RbmTrainer::new(rbm_settings(*batch), RunSeed::default())
                    .expect("the preset's settings are valid");
                let warm = Feed::from(data.clone().slice(0..5 * batch));
                let rbm = cd_epoch(&trainer, start(&trainer, rbm, &warm), &warm);
                let data = Feed::from(data);
                // Once per run, not per epoch: outside the timed part.
                let run = start(&trainer, rbm, &data);
                timed(|| {
                    let rbm = cd_epoch(&trainer, run, &data);
                    rbm.weights.val().sum().into_scalar();
                })
            }
            Self::Pretrain { sizes, batch } => {
                let data = bernoulli_data::<A::InnerBackend>(examples, sizes[0], device);
                let checkpoint = BenchFile::new("pretrain.ckpt");
                let pretrainer = pretrainer(sizes, *batch, &checkpoint.0);
                let dbn = DbnConfig::new(sizes.clone())
                    .init(device)
                    .expect("bench sizes are valid");
                let dbn = pretrain_epoch(&pretrainer, dbn, data.clone().slice(0..5 * batch));
                timed(|| {
                    let dbn = pretrain_epoch(&pretrainer, dbn, data);
                    dbn.rbms[0].weights.val().sum().into_scalar();
                })
            }
            Self::Finetune {
                sizes,
                batch,
                dropout: [pixels, hidden],
            } => {
                let classes = sizes[sizes.len() - 1];
                let train =
                    labelled_examples::<A::InnerBackend>(examples, sizes[0], classes, device);
                let settings = finetune_settings(*batch, [*pixels, *hidden]);
                let config = DbnClassifierConfig::new(sizes[..sizes.len() - 1].to_vec())
                    .with_n_outputs(sizes[sizes.len() - 1])
                    .with_input_dropout(*pixels)
                    .with_dropout(*hidden);
                let net = config.init::<A>(device).expect("bench sizes are valid");
                let seed = RunSeed::default();
                let warm = train.clone().take(5 * batch);
                let net = finetune::first_epoch(net, warm, &settings, seed, device);
                timed(|| {
                    let net = finetune::first_epoch(net, train, &settings, seed, device);
                    net.forward(Tensor::zeros([1, sizes[0]], device))
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

/// `examples` examples of `width` Bernoulli(0.2) features, labelled uniformly among
/// `classes` classes, drawn on `B` and held as `dbn train` holds a data file's.
fn labelled_examples<B: Backend>(
    examples: usize,
    width: usize,
    classes: usize,
    device: &B::Device,
) -> ExampleSet {
    let values = bernoulli_data::<B>(examples, width, device).into_data();
    let labels = Tensor::<B, 1, Int>::random(
        [examples],
        Distribution::Uniform(0.0, classes as f64),
        device,
    )
    .into_data();
    let table = Table {
        rows: examples,
        cols: width,
        values: values.convert::<f32>().to_vec().expect("f32 values"),
        labels: Some(
            labels
                .convert::<i64>()
                .iter::<i64>()
                .map(|l| l as usize)
                .collect(),
        ),
        classes: Vec::new(),
        image: None,
        grey_levels: false,
        names: Vec::new(),
    };
    ExampleSet::from_table("bench examples", table)
}

/// The quick preset's settings of an RBM, for one epoch of mini-batches of `batch`.
pub fn rbm_settings(batch: usize) -> RbmTrainingConfig {
    Preset::Quick
        .config()
        .pretrain
        .for_layer(1)
        .clone()
        .with_epochs(1)
        .with_batch_size(batch)
}

/// The quick preset's fine-tuning settings, for one epoch of mini-batches of `batch` with
/// dropout `[pixels, hidden units]`.
pub fn finetune_settings(batch: usize, [pixels, hidden]: [f64; 2]) -> FinetuneConfig {
    Preset::Quick
        .config()
        .finetune
        .with_epochs(1)
        .with_batch_size(batch)
        .with_input_dropout(pixels)
        .with_dropout(hidden)
}

/// The quick preset's pretrainer of a stack of `sizes`, one epoch per RBM in mini-batches of
/// `batch`, writing its checkpoint to `checkpoint` after every epoch as `dbn train` does.
fn pretrainer(sizes: &[usize], batch: usize, checkpoint: &Path) -> DbnPretrainer {
    let mut pretrain = Preset::Quick.config().pretrain;
    pretrain.rbm = rbm_settings(batch);
    DbnPretrainer::new(DbnConfig::new(sizes.to_vec()), pretrain, RunSeed::default())
        .expect("the preset's settings are valid")
        .with_checkpoint(checkpoint)
}

/// The start of a run of `rbm` on `data` as `dbn train` makes it ([`RbmTrainer::start`]: the
/// data's shape checked, the visible biases from the data's means, zero velocity).
pub fn start<B: Backend>(trainer: &RbmTrainer, rbm: Rbm<B>, data: &Feed<B>) -> RbmRun<B> {
    trainer.start(rbm, data).expect("bench data fit the RBM")
}

/// The first CD epoch of `run` over `data` as `dbn train` runs it ([`RbmTrainer::epoch`]:
/// shuffled mini-batches, the divergence check of every update).
pub fn cd_epoch<B: Backend>(trainer: &RbmTrainer, run: RbmRun<B>, data: &Feed<B>) -> Rbm<B> {
    let (rbm, _) = trainer
        .epoch(run.rbm, run.state, data, 1)
        .expect("random data do not diverge");
    rbm
}

/// The greedy pretraining of `dbn` on `data` as `dbn train` runs it ([`DbnPretrainer::pretrain`]:
/// each RBM on the layer below's `P(h | v)`, with the data checks, monitoring and checkpoints).
pub fn pretrain_epoch<B: Backend>(
    pretrainer: &DbnPretrainer,
    dbn: Dbn<B>,
    data: Tensor<B, 2>,
) -> Dbn<B> {
    pretrainer
        .pretrain(dbn, data, None, |_| ControlFlow::Continue(()))
        .expect("random data do not diverge")
        .dbn
}

/// A file of the bench's own in the system's temporary folder, removed when dropped.
struct BenchFile(PathBuf);

impl BenchFile {
    fn new(name: &str) -> Self {
        Self(std::env::temp_dir().join(format!("dbn-bench-{}-{name}", std::process::id())))
    }
}

impl Drop for BenchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
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
    use burn::backend::Flex;

    #[test]
    fn the_benchs_cd_epoch_is_the_first_epoch_of_a_run() {
        let _turn = crate::generator_turn();
        let device = Default::default();
        Flex::seed(&device, 4);
        let data = bernoulli_data::<Flex>(30, 6, &device);
        let rbm = RbmConfig::new(6, 4).init::<Flex>(&device);
        let trainer = RbmTrainer::new(rbm_settings(7), RunSeed(2)).unwrap();
        let feed = Feed::from(data.clone());
        let bench = cd_epoch(&trainer, start(&trainer, rbm.clone(), &feed), &feed);
        let run = trainer.fit(rbm.clone(), data, None, |_| {}).unwrap();
        assert_eq!(run.history.len(), 1);
        let weights = |rbm: &Rbm<Flex>| rbm.weights.val().into_data().to_vec::<f32>().unwrap();
        assert_eq!(weights(&bench), weights(&run.rbm));
        assert_ne!(weights(&bench), weights(&rbm));
        // The preset's settings, one epoch of the workload's batches.
        let preset = Preset::Quick.config().pretrain.for_layer(1).clone();
        let expected = preset.with_epochs(1).with_batch_size(7);
        assert_eq!(rbm_settings(7).to_string(), expected.to_string());
        let finetune = Preset::Quick.config().finetune;
        let bench = finetune_settings(100, [0.1, 0.2]);
        assert_eq!(bench.optimizer, finetune.optimizer);
        assert_eq!(bench.momentum, finetune.momentum);
        assert_eq!((bench.input_dropout, bench.dropout), (0.1, 0.2));
    }

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
