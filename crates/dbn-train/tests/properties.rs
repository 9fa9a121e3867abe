//! Properties over settings and shapes: a configuration with one bad field is refused with an
//! error naming that field, never a panic; every valid small one trains (CD and PCD
//! pretraining of every layer, then a fine-tuning step with either optimiser) without a
//! non-finite parameter.

use std::ops::ControlFlow;

use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::train::TrainStep;
use dbn_data::ClassificationBatch;
use dbn_model::{
    CdConfig, DbnConfig, DbnPretrainer, EarlyStoppingConfig, OptimizerConfig, PersistentConfig,
    PretrainConfig, RbmTrainingConfig, SparsityConfig, VisibleUnits,
};
use dbn_train::config::{FinetuneConfig, OptimizerKind, RunConfig};
use dbn_train::finetune::LearnerModel;
use dbn_train::sgd::FusedSgd;
use proptest::prelude::*;

type B = Flex;
type A = Autodiff<Flex>;

/// Valid RBM training settings of small runs, over every option.
fn rbm_config() -> impl Strategy<Value = RbmTrainingConfig> {
    (
        (
            1e-4..1.0f64,
            1usize..=3,
            any::<bool>(),
            0.0..0.99f64,
            0.0..0.99f64,
        ),
        (
            0usize..3,
            0.0..0.01f64,
            0.0..0.5f64,
            0.01..0.99f64,
            0.0..0.99f64,
        ),
        (
            any::<bool>(),
            1usize..=8,
            1usize..=2,
            1usize..=20,
            proptest::option::of(1usize..3),
        ),
    )
        .prop_map(|(a, b, c)| {
            let (learning_rate, k, persistent, initial_momentum, final_momentum) = a;
            let (initial_momentum_epochs, weight_decay, sparsity_cost, target, decay) = b;
            let (init_visible_bias, batch_size, epochs, monitor_size, patience) = c;
            let optimizer = OptimizerConfig::new()
                .with_learning_rate(learning_rate)
                .with_initial_momentum(initial_momentum)
                .with_final_momentum(final_momentum)
                .with_initial_momentum_epochs(initial_momentum_epochs)
                .with_weight_decay(weight_decay);
            let cd = CdConfig::new()
                .with_k(k)
                .with_persistent(persistent.then(PersistentConfig::new));
            let sparsity = (sparsity_cost > 0.0).then(|| {
                SparsityConfig::new()
                    .with_cost(sparsity_cost)
                    .with_target(target)
                    .with_decay(decay)
            });
            let stopping = patience.map(|p| EarlyStoppingConfig::new().with_patience(p));
            RbmTrainingConfig::new()
                .with_optimizer(optimizer)
                .with_cd(cd)
                .with_sparsity(sparsity)
                .with_visible_bias_from_data(init_visible_bias)
                .with_batch_size(batch_size)
                .with_epochs(epochs)
                .with_monitor_size(monitor_size)
                .with_early_stopping(stopping)
        })
}

/// Valid run settings with 2 to 4 layers of 1 to 12 units.
fn run_config() -> impl Strategy<Value = RunConfig> {
    let layers = proptest::collection::vec(1usize..=12, 2..=4);
    let finetune = (
        1usize..=3,
        1usize..=8,
        any::<bool>(),
        1e-4..2.0f64,
        0.5..=1.0f64,
        0.0..0.99f64,
        0.0..0.01f64,
        1usize..=3,
        (0.0..0.9f64, 0.0..0.9f64),
    )
        .prop_map(
            |(epochs, batch, adam, lr, decay, momentum, wd, patience, dropouts)| {
                FinetuneConfig::new()
                    .with_epochs(epochs)
                    .with_batch_size(batch)
                    .with_optimizer(if adam {
                        OptimizerKind::Adam
                    } else {
                        OptimizerKind::Sgd
                    })
                    .with_learning_rate(if adam { lr / 100.0 } else { lr })
                    .with_lr_decay(decay)
                    .with_momentum(momentum)
                    .with_weight_decay(wd)
                    .with_patience(patience)
                    .with_dropout(dropouts.0)
                    .with_input_dropout(dropouts.1)
            },
        );
    (
        layers,
        rbm_config(),
        any::<bool>(),
        any::<bool>(),
        0.001..1.0f64,
        any::<u64>(),
        finetune,
    )
        .prop_map(
            |(layers, rbm, gaussian, sample_up, init_std, seed, finetune)| {
                let visible = if gaussian {
                    VisibleUnits::Gaussian
                } else {
                    VisibleUnits::Bernoulli
                };
                let mut rbm = rbm;
                if gaussian {
                    // Gaussian visible units want a rate about 100 times smaller (Hinton's guide).
                    rbm.optimizer.learning_rate /= 100.0;
                }
                let dbn = DbnConfig::new(layers)
                    .with_visible(visible)
                    .with_init_std(init_std);
                let pretrain = PretrainConfig::new()
                    .with_rbm(rbm)
                    .with_sample_up(sample_up);
                RunConfig::new(dbn, finetune)
                    .with_pretrain(pretrain)
                    .with_seed(seed)
            },
        )
}

/// Sets one field of a configuration to a value it refuses, given a bad float to use.
type Corrupt = fn(&mut RunConfig, f64);

/// One bad value for one field: the field's name (as the error must give it), the change and
/// the bad float it uses.
fn corruption() -> impl Strategy<Value = (&'static str, Corrupt, f64)> {
    let bad_float = prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-1.0),
        Just(0.0),
    ];
    let cases: Vec<(&'static str, Corrupt)> = vec![
        ("pretrain.rbm.optimizer.learning_rate", |c, x| {
            c.pretrain.rbm.optimizer.learning_rate = x
        }),
        ("pretrain.rbm.optimizer.initial_momentum", |c, x| {
            c.pretrain.rbm.optimizer.initial_momentum = x.abs() + 1.0
        }),
        ("pretrain.rbm.optimizer.final_momentum", |c, x| {
            c.pretrain.rbm.optimizer.final_momentum = -x.abs() - 1.0
        }),
        ("pretrain.rbm.optimizer.weight_decay", |c, x| {
            c.pretrain.rbm.optimizer.weight_decay = -x.abs() - 1e-3
        }),
        ("pretrain.rbm.sparsity.cost", |c, x| {
            c.pretrain.rbm.sparsity = Some(SparsityConfig::new().with_cost(-x.abs()))
        }),
        ("pretrain.rbm.sparsity.target", |c, x| {
            c.pretrain.rbm.sparsity = Some(SparsityConfig::new().with_target(x.abs().max(1.0)))
        }),
        ("pretrain.rbm.sparsity.decay", |c, x| {
            c.pretrain.rbm.sparsity = Some(SparsityConfig::new().with_decay(x.abs() + 1.0))
        }),
        ("pretrain.rbm.early_stopping.min_delta", |c, x| {
            let stopping = EarlyStoppingConfig::new().with_min_delta(-x.abs() - 1e-3);
            c.pretrain.rbm.early_stopping = Some(stopping)
        }),
        ("pretrain.rbm.early_stopping.patience", |c, _| {
            c.pretrain.rbm.early_stopping = Some(EarlyStoppingConfig::new().with_patience(0))
        }),
        ("pretrain.rbm.cd.k", |c, _| c.pretrain.rbm.cd.k = 0),
        ("pretrain.rbm.cd.persistent.chains", |c, _| {
            c.pretrain.rbm.cd.persistent = Some(PersistentConfig::new().with_chains(Some(0)))
        }),
        ("pretrain.rbm.batch_size", |c, _| {
            c.pretrain.rbm.batch_size = 0
        }),
        ("pretrain.rbm.epochs", |c, _| c.pretrain.rbm.epochs = 0),
        ("pretrain.rbm.monitor_size", |c, _| {
            c.pretrain.rbm.monitor_size = 0
        }),
        ("pretrain.per_layer.0.epochs", |c, _| {
            let n = c.dbn.n_rbms();
            c.pretrain.per_layer = vec![c.pretrain.rbm.clone(); n];
            c.pretrain.per_layer[0].epochs = 0;
        }),
        ("dbn.layers", |c, _| c.dbn.layers.truncate(1)),
        ("dbn.layers", |c, _| c.dbn.layers.push(0)),
        ("pretrain.per_layer", |c, _| {
            c.pretrain.per_layer = vec![c.pretrain.rbm.clone(); c.dbn.layers.len()]
        }),
        ("dbn.init_std", |c, x| c.dbn.init_std = -x.abs() - 1e-3),
        ("finetune.epochs", |c, _| c.finetune.epochs = 0),
        ("finetune.batch_size", |c, _| c.finetune.batch_size = 0),
        ("finetune.learning_rate", |c, x| {
            c.finetune.learning_rate = x
        }),
        ("finetune.lr_decay", |c, x| {
            c.finetune.lr_decay = x.abs() + 1.5
        }),
        ("finetune.momentum", |c, x| {
            c.finetune.momentum = x.abs() + 1.0
        }),
        ("finetune.weight_decay", |c, x| {
            c.finetune.weight_decay = -x.abs() - 1e-3
        }),
        ("finetune.patience", |c, _| c.finetune.patience = 0),
        ("finetune.dropout", |c, x| {
            c.finetune.dropout = x.abs() + 1.0
        }),
        ("finetune.input_dropout", |c, x| {
            c.finetune.input_dropout = -x.abs() - 1e-3
        }),
        ("--labels", |c, _| c.labels = Some(0)),
        ("--train-limit", |c, _| c.train_limit = Some(0)),
    ];
    (proptest::sample::select(cases), bad_float)
        .prop_map(|((field, corrupt), x)| (field, corrupt, x))
}

/// Every parameter of `module` is finite.
fn all_finite<M: Module<BB>, BB: Backend>(module: &M) -> bool {
    struct Check(bool);
    impl<BB: Backend> burn::module::ModuleVisitor<BB> for Check {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<BB, D>>) {
            let values: Vec<f32> = param.val().into_data().convert::<f32>().to_vec().unwrap();
            self.0 &= values.iter().all(|v| v.is_finite());
        }
    }
    let mut check = Check(true);
    module.visit(&mut check);
    check.0
}

/// Pretrains `config`'s stack on `n` random examples, then takes one fine-tuning step of the
/// classifier built from it; panics on any error or non-finite parameter.
fn train_small(config: &RunConfig, n: usize) {
    let device = Default::default();
    B::seed(&device, config.seed);
    let width = config.dbn.layers[0];
    let data = match config.dbn.visible {
        VisibleUnits::Bernoulli => {
            Tensor::<B, 2>::random([n, width], Distribution::Default, &device)
        }
        VisibleUnits::Gaussian => {
            Tensor::<B, 2>::random([n, width], Distribution::Normal(0.0, 1.0), &device)
        }
    };
    let dbn = config
        .dbn
        .init::<B>(&device)
        .expect("a valid config builds");
    let pretrained = DbnPretrainer::new(
        config.dbn.clone(),
        config.pretrain.clone(),
        config.run_seed(),
    )
    .expect("a valid config")
    .pretrain(dbn, data.clone(), Some(data.clone().into()), |_| {
        ControlFlow::Continue(())
    })
    .expect("pretraining a valid config succeeds");
    assert!(
        all_finite(&pretrained.dbn),
        "non-finite pretrained parameters"
    );

    let classifier = config
        .classifier_config()
        .pretrained::<A, B>(&pretrained.dbn, &device)
        .expect("a valid stack");
    let model = LearnerModel::new(classifier);
    let batch = config.finetune.batch_size.min(n);
    let targets = Tensor::<A, 1, Int>::from_data(
        TensorData::new(
            (0..batch as i64).map(|i| i % 10).collect::<Vec<_>>(),
            [batch],
        ),
        &device,
    );
    let images = Tensor::<A, 2>::from_inner(data.slice(0..batch));
    let grads: GradientsParams = model.step(ClassificationBatch { images, targets }).grads;
    let f = &config.finetune;
    let model = match f.optimizer {
        OptimizerKind::Sgd => {
            FusedSgd::new(f.momentum, f.weight_decay)
                .init()
                .step(f.learning_rate, model, grads)
        }
        OptimizerKind::Adam => AdamConfig::new().init().step(f.learning_rate, model, grads),
    };
    assert!(all_finite(&model), "non-finite fine-tuned parameters");
}

proptest! {
    #[test]
    fn every_valid_small_configuration_trains_without_a_non_finite_parameter(
        config in run_config(),
        extra in 0usize..5,
    ) {
        prop_assert!(config.validate().is_ok(), "{:?}", config.validate());
        let n = config.pretrain.rbm.batch_size * 2 + extra;
        train_small(&config, n);
    }

    #[test]
    fn one_bad_field_is_an_error_naming_it_never_a_panic(
        config in run_config(),
        (field, corrupt, x) in corruption(),
    ) {
        let mut config = config;
        corrupt(&mut config, x);
        let error = config.validate().expect_err("a bad field is refused").to_string();
        prop_assert!(error.contains(field), "{field}: {error}");
    }
}
