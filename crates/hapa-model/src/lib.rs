//! HAPA's local code model runtime: loads an ONNX decoder with tract and runs it, the same
//! code natively (inside hapa-server) and in WASM (inside the extension host).
//!
//! It knows tensors, tokens and sampling; it must not know HTTP, VS Code, wasm-bindgen or
//! the file system (callers hand it the model's bytes), so both hosts can embed it. The
//! bundled model, its tokenizer and decoding arrive with the model issue; what exists now is
//! the loading path every later piece stands on.

use tract_onnx::prelude::*;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The bytes are not an ONNX model tract can read, type and optimise.
    #[error("not a usable ONNX model: {0}")]
    Load(String),
}

/// A loaded, optimised, runnable ONNX model: load once, run many times.
pub struct Model {
    plan: std::sync::Arc<TypedSimplePlan>,
}

/// Name and shape of one model input or output, for diagnostics and sanity checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// The ONNX name of the input or output.
    pub name: String,
    /// Its shape as tract prints it (symbolic dimensions by name).
    pub shape: String,
}

impl Model {
    /// Reads, types, optimises and plans an ONNX model from its bytes.
    pub fn from_onnx_bytes(mut bytes: &[u8]) -> Result<Self, ModelError> {
        let load = |e: TractError| ModelError::Load(format!("{e:#}"));
        let plan = tract_onnx::onnx()
            .model_for_read(&mut bytes)
            .map_err(load)?
            .into_optimized()
            .map_err(load)?
            .into_runnable()
            .map_err(load)?;
        Ok(Self { plan })
    }

    /// The model's inputs, in order.
    pub fn inputs(&self) -> Vec<Port> {
        let model = self.plan.model();
        model.input_outlets().map(|outlets| ports(model, outlets)).unwrap_or_default()
    }

    /// The model's outputs, in order.
    pub fn outputs(&self) -> Vec<Port> {
        let model = self.plan.model();
        model.output_outlets().map(|outlets| ports(model, outlets)).unwrap_or_default()
    }
}

fn ports(model: &TypedModel, outlets: &[OutletId]) -> Vec<Port> {
    outlets
        .iter()
        .map(|outlet| Port {
            name: model.node(outlet.node).name.clone(),
            shape: model.outlet_fact(*outlet).map(|fact| format!("{:?}", fact.shape)).unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bytes_that_are_not_onnx_with_a_clear_error() {
        let Err(error) = Model::from_onnx_bytes(b"definitely not protobuf") else {
            panic!("garbage loaded as a model");
        };
        assert!(error.to_string().starts_with("not a usable ONNX model"), "{error}");
    }
}
