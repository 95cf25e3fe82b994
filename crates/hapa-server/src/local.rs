//! The `local` provider: the bundled code model (`hapa-model`, tract) from a model directory,
//! loaded on first use, run on blocking threads beside the async workers, a bounded number at a
//! time.
//!
//! A load that fails is retried by a later request (at most every few seconds, so a broken file
//! is not re-read by every request); its error names the missing or unusable file.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hapa_model::{CodeModel, CompletionRequest, ModelFiles, StopReason};
use tokio::sync::{OnceCell, Semaphore, mpsc};
use tokio::time::Instant;

use crate::inference::{Cancellation, Holdback, InferenceError, Job, Output, Progress, Running};
use crate::metrics::Metrics;
use crate::prompt;

/// The model's name, as `/stats`, `/metrics` and answers report it.
pub const MODEL_NAME: &str = "hapa-code";
/// The files a model directory must hold.
pub const MODEL_FILES: [&str; 3] = ["hapa-code.onnx", "tokenizer.json", "hapa-code.json"];
/// The repository's model directory, the default.
pub const DEFAULT_MODEL_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models");

/// How long a failed load is answered from memory before the files are read again.
const RETRY_LOAD_AFTER: Duration = Duration::from_secs(2);

/// The bundled model, loaded on first use.
pub struct LocalModel {
    dir: PathBuf,
    model: OnceCell<Arc<CodeModel>>,
    last_failure: Mutex<Option<(Instant, String)>>,
    slots: Arc<Semaphore>,
    concurrency: usize,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("dir", &self.dir)
            .field("loaded", &self.model.initialized())
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl LocalModel {
    /// The model in `dir`, run at most `concurrency` generations at a time.
    pub fn new(dir: PathBuf, concurrency: usize, metrics: Arc<Metrics>) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            dir,
            model: OnceCell::new(),
            last_failure: Mutex::new(None),
            slots: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            metrics,
        }
    }

    /// A digest of the model files' sizes and modification times (16 hex digits): different
    /// files, different fingerprint, without reading 25 MB at start-up. Missing files count
    /// as such.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut digest = Sha256::new();
        for name in MODEL_FILES {
            let metadata = std::fs::metadata(self.dir.join(name)).ok();
            let modified = metadata
                .as_ref()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            let size = metadata.as_ref().map_or(u64::MAX, std::fs::Metadata::len);
            digest.update(format!("{name}\0{size}\0{modified}\n"));
        }
        let hex: String = digest.finalize().iter().take(8).map(|byte| format!("{byte:02x}")).collect();
        hex
    }

    /// The model files `dir` lacks (for the serve banner).
    pub fn missing_files(&self) -> Vec<&'static str> {
        MODEL_FILES.into_iter().filter(|name| !self.dir.join(name).is_file()).collect()
    }

    /// For the serve banner.
    pub fn describe(&self) -> String {
        let dir = self.dir.canonicalize().unwrap_or_else(|_| self.dir.clone());
        let missing = self.missing_files();
        let state = if missing.is_empty() {
            "loaded on first use".to_owned()
        } else {
            format!("MISSING {}: generation and completion answer 503 until they are there", missing.join(", "))
        };
        format!(
            "local {MODEL_NAME} from {} ({state}); {} generation{} at a time",
            dir.display(),
            self.concurrency,
            if self.concurrency == 1 { "" } else { "s" }
        )
    }

    /// The model, loading it if this is the first use (or the last load failed).
    async fn loaded(&self) -> Result<Arc<CodeModel>, InferenceError> {
        self.model
            .get_or_try_init(|| async {
                if let Some((at, message)) = self.lock_failure().as_ref()
                    && at.elapsed() < RETRY_LOAD_AFTER
                {
                    return Err(InferenceError::Unavailable(message.clone()));
                }
                let dir = self.dir.clone();
                let loaded = tokio::task::spawn_blocking(move || load(&dir)).await.unwrap_or_else(|_| {
                    Err(InferenceError::Unavailable("loading the model crashed; see the server log".to_owned()))
                });
                match loaded {
                    Ok(model) => {
                        self.metrics.set_model("local", Some(MODEL_NAME));
                        *self.lock_failure() = None;
                        Ok(Arc::new(model))
                    }
                    Err(error) => {
                        *self.lock_failure() = Some((Instant::now(), error.to_string()));
                        Err(error)
                    }
                }
            })
            .await
            .cloned()
    }

    fn lock_failure(&self) -> std::sync::MutexGuard<'_, Option<(Instant, String)>> {
        self.last_failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts `job` on a blocking thread once a slot is free; `timeout` counts from the loaded
    /// model, the wait for a slot included.
    pub async fn start(&self, job: Job, timeout: Duration) -> Result<Running, InferenceError> {
        let model = self.loaded().await?;
        let deadline = Instant::now() + timeout;
        let slot = match tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            // Never closed; treat it like a full house.
            Ok(Err(_)) | Err(_) => return Err(InferenceError::Busy),
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        let cancellation = Arc::new(Cancellation::default());
        let watched = cancellation.clone();
        let metrics = self.metrics.clone();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let (prefix, suffix) = prompt::infill(&job.prompt);
            let request = CompletionRequest {
                prefix,
                suffix,
                stop: job.stop.clone(),
                sampling: job.sampling,
                syntax_aware: job.syntax_aware,
                earlier_lines: hapa_model::line_choice::EARLIER_LINES,
            };
            let mut holdback = Holdback::new(&job.stop, &request.prefix, job.syntax_aware);
            let result = model.complete(&request, |piece| {
                if watched.is_cancelled() {
                    return ControlFlow::Break(());
                }
                if let Some(text) = holdback.push(piece)
                    && sender.send(Progress::Text(text)).is_err()
                {
                    // Nobody listens any more: the request is gone.
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            });
            let done = match result {
                Ok(completion) => {
                    if completion.stop_reason == StopReason::Cancelled
                        && let Some(reason) = watched.reason()
                    {
                        metrics.generation_cancelled(reason);
                    }
                    if let Some(rest) = holdback.finish(&completion.text) {
                        let _ = sender.send(Progress::Text(rest));
                    }
                    Ok(Output {
                        text: completion.text,
                        explanation: None,
                        stop_reason: completion.stop_reason,
                        prompt_tokens: completion.prompt_tokens,
                        generated_tokens: completion.generated_tokens,
                        model: MODEL_NAME.to_owned(),
                    })
                }
                Err(error) => {
                    tracing::error!(%error, "the local model failed");
                    Err(InferenceError::Failed)
                }
            };
            let _ = sender.send(Progress::Done(done));
        });
        Ok(Running::new(receiver, cancellation, deadline, InferenceError::Timeout(timeout)))
    }
}

/// Reads and loads the model files in `dir`.
fn load(dir: &Path) -> Result<CodeModel, InferenceError> {
    let [onnx_name, tokenizer_name, description_name] = MODEL_FILES;
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|error| {
            tracing::error!(path = %path.display(), %error, "cannot read a model file");
            let what = if error.kind() == std::io::ErrorKind::NotFound { "is missing" } else { "cannot be read" };
            InferenceError::Unavailable(format!(
                "the model file {name} {what} in the server's model directory; its operator should put \
                 {} there (--model-dir or HAPA_MODEL_DIR)",
                MODEL_FILES.join(", ")
            ))
        })
    };
    let text = |name: &str| {
        String::from_utf8(read(name)?)
            .map_err(|_| InferenceError::Unavailable(format!("the model file {name} is not UTF-8 text")))
    };
    let onnx = read(onnx_name)?;
    let tokenizer_json = text(tokenizer_name)?;
    let description_json = text(description_name)?;
    let started = std::time::Instant::now();
    let model = CodeModel::load(ModelFiles {
        onnx: &onnx,
        tokenizer_json: &tokenizer_json,
        description_json: &description_json,
    })
    .map_err(|error| {
        tracing::error!(dir = %dir.display(), %error, "cannot load the model");
        InferenceError::Unavailable(format!(
            "the model files are unusable ({error}); its operator should replace {}",
            MODEL_FILES.join(", ")
        ))
    })?;
    tracing::info!(dir = %dir.display(), ms = started.elapsed().as_millis() as u64, "model loaded");
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_follows_the_model_files() {
        let dir = std::env::temp_dir().join(format!("hapa-fingerprint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let model = || LocalModel::new(dir.clone(), 1, Arc::new(Metrics::default()));
        let missing = model().fingerprint();
        for name in MODEL_FILES {
            std::fs::write(dir.join(name), "weights").unwrap();
        }
        let first = model().fingerprint();
        assert_eq!(first.len(), 16);
        assert_ne!(first, missing, "files that appear change it");
        assert_eq!(model().fingerprint(), first, "the same files, the same fingerprint");
        std::fs::write(dir.join(MODEL_FILES[0]), "other weights").unwrap();
        assert_ne!(model().fingerprint(), first, "other weights, another fingerprint");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
