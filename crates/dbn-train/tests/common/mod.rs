//! Running the `dbn` binary from the integration tests.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `dbn ARGS` with the default data folder (no `DBN_DATA_DIR` from the environment).
pub fn dbn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbn"))
        .args(args)
        .env_remove("DBN_DATA_DIR")
        .output()
        .expect("the dbn binary runs")
}

/// Process output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The first line of `output` that starts with `prefix`; panics showing the whole output when
/// there is none.
pub fn line_starting<'a>(output: &'a str, prefix: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{output}"))
}

/// The standard output of a command that must have succeeded; panics showing both streams.
pub fn ok(out: &Output) -> String {
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    stdout
}

/// Every parameter of `module`, tensor by tensor in the module's field order.
fn values<M: burn::module::Module<burn::backend::Flex>>(module: &M) -> Vec<Vec<f32>> {
    use burn::backend::Flex;
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::Tensor;
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor<Flex> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Flex, D>>) {
            self.0.push(param.val().into_data().to_vec().unwrap());
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}

/// Every weight and bias of the classifier saved in `dir`.
pub fn classifier_values(dir: &Path) -> Vec<Vec<f32>> {
    use burn::backend::Flex;
    use dbn_model::{DbnClassifier, load_module};
    let (net, _) = load_module::<Flex, DbnClassifier<Flex>>(dir, &Default::default()).unwrap();
    values(&net)
}

/// Every weight and bias of the stack saved in `dir`.
pub fn dbn_values(dir: &Path) -> Vec<Vec<f32>> {
    use burn::backend::Flex;
    use dbn_model::{Dbn, load_module};
    let (dbn, _) = load_module::<Flex, Dbn<Flex>>(dir, &Default::default()).unwrap();
    values(&dbn)
}
