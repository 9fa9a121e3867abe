//! Saving and loading modules ([`save_module`], [`load_module`] for every [`Persist`] module:
//! [`Rbm`], [`Dbn`], [`DbnClassifier`], [`UpDownDbn`]): a Burn record (`NAME.mpk`, full precision, so a round trip is
//! bit-exact) beside its config as JSON (`NAME.json`). Each file is written whole under a
//! temporary name, flushed to disk and renamed into place ([`write_atomically`],
//! [`AtomicMpkRecorder`]), so an interrupted save or a full disk never leaves a truncated file
//! that loads; loading checks that the record's shapes are the config's, and lays the saved
//! config over [`Persist::defaults`], so a file saved before a setting existed still loads.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::config::{Config, config_to_json};
use burn::prelude::*;
use burn::record::{
    FileRecorder, FullPrecisionSettings, NamedMpkBytesRecorder, Record, Recorder, RecorderError,
};
use serde::{Serialize, de::DeserializeOwned};

use crate::classifier::{DbnClassifier, DbnClassifierConfig};
use crate::dbn::{Dbn, DbnConfig};
use crate::error::ModelError;
use crate::overlay::{OverlayError, config_over, parse, value_over};
use crate::rbm::{Rbm, RbmConfig};
use crate::updown::UpDownDbn;

/// File stem of a saved DBN in its folder: `dbn.json` and `dbn.mpk`.
pub const DBN_NAME: &str = "dbn";
/// File stem of a saved RBM in its folder: `rbm.json` and `rbm.mpk`.
pub const RBM_NAME: &str = "rbm";
/// File stem of a saved classifier in its folder: `classifier.json` and `classifier.mpk`.
pub const CLASSIFIER_NAME: &str = "classifier";
/// File stem of a saved up-down fine-tuned stack in its folder: `updown.json` (the stack's
/// [`DbnConfig`]) and `updown.mpk` (generative and recognition weights).
pub const UPDOWN_NAME: &str = "updown";

/// Writes `bytes` to `path` as a whole or not at all: into a hidden temporary file beside it,
/// flushed to disk, then renamed over `path`. A crash, a kill or a full disk at any moment leaves
/// either the old file or the new one, never a mix or a truncated file; the temporary file is
/// removed when writing fails.
///
/// # Errors
/// The first I/O error (creating, writing, flushing or renaming).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |name| name.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    written
}

/// Burn's named MessagePack record format (what `NamedMpkFileRecorder<FullPrecisionSettings>`
/// reads and writes), saved through [`write_atomically`]. Burn's own file recorders write in
/// place and drop their buffered writer without checking the final flush, so a kill or a full
/// disk can leave a truncated record; this one cannot. Usable wherever Burn takes a
/// [`FileRecorder`], burn-train's checkpointer included.
#[derive(Debug, Default, Clone, Copy)]
pub struct AtomicMpkRecorder;

impl<B: Backend> Recorder<B> for AtomicMpkRecorder {
    type Settings = FullPrecisionSettings;
    type RecordArgs = PathBuf;
    type RecordOutput = ();
    type LoadArgs = PathBuf;

    fn save_item<I: Serialize>(&self, item: I, mut file: PathBuf) -> Result<(), RecorderError> {
        file.set_extension(<Self as FileRecorder<B>>::file_extension());
        let bytes = rmp_serde::to_vec_named(&item)
            .map_err(|e| RecorderError::Unknown(format!("{}: {e}", file.display())))?;
        write_atomically(&file, &bytes)
            .map_err(|e| RecorderError::Unknown(format!("{}: {e}", file.display())))
    }

    fn load_item<I: DeserializeOwned>(&self, file: &mut PathBuf) -> Result<I, RecorderError> {
        file.set_extension(<Self as FileRecorder<B>>::file_extension());
        let bytes = std::fs::read(&*file)
            .map_err(|e| RecorderError::FileNotFound(format!("{}: {e}", file.display())))?;
        rmp_serde::from_slice(&bytes)
            .map_err(|e| RecorderError::DeserializeError(format!("{}: {e}", file.display())))
    }
}

impl<B: Backend> FileRecorder<B> for AtomicMpkRecorder {
    fn file_extension() -> &'static str {
        "mpk"
    }
}

fn io_error(path: &Path, reason: impl std::fmt::Display) -> ModelError {
    ModelError::Io {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// `dir/NAME.EXT`.
fn file(dir: &Path, name: &str, ext: &str) -> PathBuf {
    dir.join(format!("{name}.{ext}"))
}

/// Writes `config` and `module`'s record into `dir` under `name`, each atomically; the record
/// last, so a folder whose record exists holds a complete save.
fn save<B: Backend, M: Module<B>, C: Config>(
    module: &M,
    config: &C,
    dir: &Path,
    name: &str,
) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| io_error(dir, format!("cannot create folder: {e}")))?;
    let json = file(dir, name, "json");
    write_atomically(&json, config_to_json(config).as_bytes())
        .map_err(|e| io_error(&json, format!("cannot write: {e}")))?;
    // The recorder names the file NAME.mpk and reports the path in its error.
    module
        .clone()
        .save_file(dir.join(name), &AtomicMpkRecorder)
        .map_err(|e| io_error(dir, format!("cannot save {name}.mpk: {e}")))
}

/// Reads `dir/NAME.json` over `M`'s defaults ([`Persist::config_over`]).
fn load_config<B: Backend, M: Persist<B>>(dir: &Path) -> Result<M::Config, ModelError> {
    let path = file(dir, M::NAME, "json");
    if !path.is_file() {
        return Err(io_error(&path, "not found"));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
    M::config_over(&text, &M::defaults())
        .map_err(|e| io_error(&path, format!("invalid config: {e}")))
}

/// Loads `dir/NAME.mpk` into `module`, whose shapes come from the config.
fn load_record<B: Backend, M: Module<B>>(
    module: M,
    dir: &Path,
    name: &str,
    device: &B::Device,
) -> Result<M, ModelError> {
    let path = file(dir, name, "mpk");
    if !path.is_file() {
        return Err(io_error(&path, "not found"));
    }
    module
        .load_file(dir.join(name), &AtomicMpkRecorder, device)
        .map_err(|e| io_error(&path, format!("cannot load: {e}")))
}

/// Burn's named MessagePack format, full precision: a checkpoint's round trip is bit-exact.
type CheckpointRecorder = NamedMpkBytesRecorder<FullPrecisionSettings>;

/// Writes a training checkpoint (any record: a run's tensors and progress) to `path`, as a
/// whole or not at all ([`write_atomically`]).
///
/// # Errors
/// [`ModelError::Io`] naming `path`.
pub fn write_checkpoint<B: Backend, R: Record<B>>(
    record: R,
    path: &Path,
) -> Result<(), ModelError> {
    let bytes = Recorder::<B>::record(&CheckpointRecorder::new(), record, ())
        .map_err(|e| io_error(path, format!("cannot encode: {e}")))?;
    write_atomically(path, &bytes)
        .map_err(|e| io_error(path, format!("cannot write checkpoint: {e}")))
}

/// Reads the checkpoint [`write_checkpoint`] wrote at `path` onto `device`.
///
/// # Errors
/// [`ModelError::Io`] naming `path`: missing, unreadable, or not a checkpoint of this kind.
pub fn read_checkpoint<B: Backend, R: Record<B>>(
    path: &Path,
    device: &B::Device,
) -> Result<R, ModelError> {
    let bytes =
        std::fs::read(path).map_err(|e| io_error(path, format!("cannot read checkpoint: {e}")))?;
    CheckpointRecorder::new()
        .load(bytes, device)
        .map_err(|e| io_error(path, format!("not a valid checkpoint: {e}")))
}

/// A module saved as a record beside its config, and rebuilt from them.
pub trait Persist<B: Backend>: Module<B> {
    /// Its configuration type.
    type Config: Config;
    /// File stem in the folder.
    const NAME: &'static str;
    /// A config of every setting's default, under a saved one: settings added since it was
    /// saved take these values. Array fields hold one element, the default of each element.
    fn defaults() -> Self::Config;
    /// The config in JSON `text` over `base`: [`config_over`], unless the config has a rule of
    /// its own.
    ///
    /// # Errors
    /// An [`OverlayError`].
    fn config_over(text: &str, base: &Self::Config) -> Result<Self::Config, OverlayError> {
        config_over(text, base)
    }
    /// A module of the config's shapes, for the record to be loaded into.
    ///
    /// # Errors
    /// For an invalid config.
    fn from_config(config: &Self::Config, device: &B::Device) -> Result<Self, ModelError>;
    /// The layer sizes this module has, to compare with its config's.
    fn sizes(&self) -> Vec<usize>;
    /// The layer sizes the config describes.
    fn config_sizes(config: &Self::Config) -> Vec<usize>;
}

impl<B: Backend> Persist<B> for Rbm<B> {
    type Config = RbmConfig;
    const NAME: &'static str = RBM_NAME;
    fn defaults() -> RbmConfig {
        RbmConfig::new(0, 0)
    }
    fn from_config(config: &RbmConfig, device: &B::Device) -> Result<Self, ModelError> {
        config.validate()?;
        Ok(config.init(device))
    }
    fn sizes(&self) -> Vec<usize> {
        vec![self.n_visible(), self.n_hidden()]
    }
    fn config_sizes(config: &RbmConfig) -> Vec<usize> {
        vec![config.n_visible, config.n_hidden]
    }
}

/// The training settings a `dbn.json` held before [`DbnConfig`] described the model alone:
/// pretraining's CD settings, shared and per RBM, the sampled up pass and the seed (now a
/// [`crate::PretrainConfig`] and a [`crate::RunSeed`]).
pub const LEGACY_TRAINING_KEYS: [&str; 4] = ["cd", "layer_cd", "sample_up", "seed"];

impl<B: Backend> Persist<B> for Dbn<B> {
    type Config = DbnConfig;
    const NAME: &'static str = DBN_NAME;
    fn defaults() -> DbnConfig {
        DbnConfig::new(Vec::new())
    }
    /// A stack saved before its config held only the model also holds its training settings
    /// ([`LEGACY_TRAINING_KEYS`]); they are not needed to rebuild it, so they are dropped.
    fn config_over(text: &str, base: &DbnConfig) -> Result<DbnConfig, OverlayError> {
        let mut top = parse(text)?;
        if let Some(fields) = top.as_object_mut() {
            for key in LEGACY_TRAINING_KEYS {
                fields.remove(key);
            }
        }
        value_over(top, base)
    }
    fn from_config(config: &DbnConfig, device: &B::Device) -> Result<Self, ModelError> {
        config.init(device)
    }
    fn sizes(&self) -> Vec<usize> {
        self.layer_sizes()
    }
    fn config_sizes(config: &DbnConfig) -> Vec<usize> {
        config.layers.clone()
    }
}

/// An up-down stack is saved with the [`DbnConfig`] of its generative stack: the recognition
/// weights are those of the same stack without its top RBM.
impl<B: Backend> Persist<B> for UpDownDbn<B> {
    type Config = DbnConfig;
    const NAME: &'static str = UPDOWN_NAME;
    fn defaults() -> DbnConfig {
        DbnConfig::new(Vec::new())
    }
    fn from_config(config: &DbnConfig, device: &B::Device) -> Result<Self, ModelError> {
        UpDownDbn::untie(config.init(device)?)
    }
    fn sizes(&self) -> Vec<usize> {
        self.layer_sizes()
    }
    fn config_sizes(config: &DbnConfig) -> Vec<usize> {
        config.layers.clone()
    }
}

impl<B: Backend> Persist<B> for DbnClassifier<B> {
    type Config = DbnClassifierConfig;
    const NAME: &'static str = CLASSIFIER_NAME;
    fn defaults() -> DbnClassifierConfig {
        DbnClassifierConfig::new(Vec::new())
    }
    fn from_config(config: &DbnClassifierConfig, device: &B::Device) -> Result<Self, ModelError> {
        config.init(device)
    }
    fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.encoder.layers[0].weight.dims()[0]];
        sizes.extend(self.encoder.layers.iter().map(|l| l.weight.dims()[1]));
        sizes.push(self.n_outputs());
        sizes
    }
    fn config_sizes(config: &DbnClassifierConfig) -> Vec<usize> {
        let mut sizes = config.layers.clone();
        sizes.push(config.n_outputs);
        sizes
    }
}

/// Saves `module` and its `config` into `dir` (`NAME.json`, `NAME.mpk`).
///
/// # Errors
/// [`ModelError::Io`] naming the file that cannot be written.
pub fn save_module<B: Backend, M: Persist<B>>(
    module: &M,
    config: &M::Config,
    dir: &Path,
) -> Result<(), ModelError> {
    save(module, config, dir, M::NAME)
}

/// Loads a module saved by [`save_module`], with its config.
///
/// # Errors
/// [`ModelError::Io`] naming a missing or invalid file, or a record whose sizes are not the
/// config's.
pub fn load_module<B: Backend, M: Persist<B>>(
    dir: &Path,
    device: &B::Device,
) -> Result<(M, M::Config), ModelError> {
    let config = load_config::<B, M>(dir)?;
    let module = load_record(M::from_config(&config, device)?, dir, M::NAME, device)?;
    let (sizes, expected) = (module.sizes(), M::config_sizes(&config));
    if sizes != expected {
        let path = file(dir, M::NAME, "mpk");
        let reason = format!("holds layers {sizes:?}, its config says {expected:?}");
        return Err(io_error(&path, reason));
    }
    Ok((module, config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbm::VisibleUnits;
    use crate::test_support::B;

    fn values<M: Module<B>>(module: &M) -> Vec<Vec<f32>> {
        struct Collect(Vec<Vec<f32>>);
        impl burn::module::ModuleVisitor<B> for Collect {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
                self.0.push(param.val().into_data().to_vec().unwrap());
            }
        }
        let mut collect = Collect(Vec::new());
        module.visit(&mut collect);
        collect.0
    }

    #[test]
    fn a_dbn_round_trip_is_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        let device = Default::default();
        let config = DbnConfig::new(vec![7, 5, 3])
            .with_visible(VisibleUnits::Gaussian)
            .with_init_std(0.3);
        let dbn = config.init::<B>(&device).unwrap();
        save_module(&dbn, &config, dir.path()).unwrap();
        let (loaded, loaded_config) = load_module::<B, Dbn<B>>(dir.path(), &device).unwrap();
        assert_eq!(values(&loaded), values(&dbn));
        assert_eq!(loaded_config.layers, config.layers);
        assert_eq!(loaded.rbms[0].visible, VisibleUnits::Gaussian);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names.len(),
            2,
            "only dbn.json and dbn.mpk remain: {names:?}"
        );
    }

    #[test]
    fn a_config_saved_before_a_setting_existed_loads_with_its_default() {
        let dir = tempfile::tempdir().unwrap();
        let device = Default::default();
        let config = DbnConfig::new(vec![7, 5, 3]).with_init_std(0.3);
        let dbn = config.init::<B>(&device).unwrap();
        save_module(&dbn, &config, dir.path()).unwrap();
        // Remove a setting, as a file from before it existed lacks it.
        let path = dir.path().join("dbn.json");
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        json.as_object_mut().unwrap().remove("visible");
        std::fs::write(&path, json.to_string()).unwrap();
        let (_, loaded) = load_module::<B, Dbn<B>>(dir.path(), &device).unwrap();
        assert_eq!(loaded.visible, VisibleUnits::Bernoulli);
        assert_eq!(loaded.init_std, 0.3, "the saved settings win");
        // A stack saved when dbn.json held its training settings too still loads.
        json["cd"] = serde_json::json!({"k": 3, "learning_rate": 0.1});
        json["layer_cd"] = serde_json::json!([]);
        json["sample_up"] = false.into();
        json["seed"] = 42.into();
        std::fs::write(&path, json.to_string()).unwrap();
        let (_, loaded) = load_module::<B, Dbn<B>>(dir.path(), &device).unwrap();
        assert_eq!(loaded.layers, vec![7, 5, 3]);
        // A setting no version has is an error naming it, not silently dropped.
        json["learning_rat"] = 0.1.into();
        std::fs::write(&path, json.to_string()).unwrap();
        let err = load_module::<B, Dbn<B>>(dir.path(), &device).unwrap_err();
        assert!(
            err.to_string().contains("unknown setting learning_rat"),
            "{err}"
        );
    }

    #[test]
    fn an_rbm_round_trip_is_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        let device = Default::default();
        let config = RbmConfig::new(9, 4).with_visible(VisibleUnits::Gaussian);
        let rbm = config.init::<B>(&device);
        save_module(&rbm, &config, dir.path()).unwrap();
        let (loaded, _) = load_module::<B, Rbm<B>>(dir.path(), &device).unwrap();
        assert_eq!(values(&loaded), values(&rbm));
        assert_eq!(loaded.visible, VisibleUnits::Gaussian);
    }

    #[test]
    fn a_classifier_round_trip_is_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        let device = Default::default();
        let config = DbnClassifierConfig::new(vec![6, 4, 3]).with_n_outputs(5);
        let net = config.init::<B>(&device).unwrap();
        save_module(&net, &config, dir.path()).unwrap();
        let (loaded, _) = load_module::<B, DbnClassifier<B>>(dir.path(), &device).unwrap();
        assert_eq!(values(&loaded), values(&net));
    }

    #[test]
    fn a_record_of_other_sizes_is_an_error_not_a_silent_load() {
        let dir = tempfile::tempdir().unwrap();
        let device = Default::default();
        let small = DbnConfig::new(vec![7, 5]);
        save_module(&small.init::<B>(&device).unwrap(), &small, dir.path()).unwrap();
        // A config claiming other sizes beside that record.
        DbnConfig::new(vec![7, 6])
            .save(dir.path().join("dbn.json"))
            .unwrap();
        let err = load_module::<B, Dbn<B>>(dir.path(), &device).unwrap_err();
        assert!(err.to_string().contains("dbn.mpk"), "{err}");
        let err = load_module::<B, Dbn<B>>(&dir.path().join("nothing"), &device).unwrap_err();
        assert!(err.to_string().contains("dbn.json: not found"), "{err}");
    }
}
