//! The local code model in the extension host: `hapa-model` behind a JavaScript class. The host
//! reads the model files (from the installed extension) and hands over their contents.

use std::cell::RefCell;
use std::ops::ControlFlow;

use hapa_model::{CodeModel, CompletionRequest, ModelFiles, PromptReuse, Sampling, StopRules};
use wasm_bindgen::prelude::*;

/// A loaded local model (load once: reading and optimising the graph takes a moment).
#[wasm_bindgen]
pub struct LocalModel {
    model: CodeModel,
    /// The last line completion's cache: the next keystroke's prompt starts the same way, so
    /// only its new tokens are computed. One user's extension host, so nothing leaks between
    /// users through timing.
    typing: RefCell<PromptReuse>,
}

#[wasm_bindgen]
impl LocalModel {
    /// Loads the model from `hapa-code.onnx`'s bytes, `tokenizer.json` and `hapa-code.json`.
    #[wasm_bindgen(constructor)]
    pub fn new(onnx: &[u8], tokenizer_json: &str, description_json: &str) -> Result<LocalModel, JsError> {
        let model = CodeModel::load(ModelFiles { onnx, tokenizer_json, description_json })
            .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Self { model, typing: RefCell::default() })
    }

    /// The rest of the current line (greedy, syntax-aware): `{text, stop_reason, prompt_tokens,
    /// generated_tokens, trimmed, reused_prompt_tokens, from_earlier_line}`. The start of the prompt that the
    /// previous call's shares is not computed again.
    #[wasm_bindgen(js_name = completeLine)]
    pub fn complete_line(&self, prefix: &str, suffix: &str, max_tokens: usize) -> Result<JsValue, JsError> {
        let request = CompletionRequest::rest_of_line(prefix, suffix, max_tokens);
        let mut typing = self.typing.try_borrow_mut().map_err(|_| JsError::new("the local model is busy"))?;
        let completion = self
            .model
            .complete_reusing(&request, &mut typing, |_| ControlFlow::Continue(()))
            .map_err(|e| JsError::new(&e.to_string()))?;
        serde_wasm_bindgen::to_value(&completion).map_err(|e| JsError::new(&e.to_string()))
    }

    /// Computes the prompt of a line completion at this place ahead of time, keeping it for the
    /// next `completeLine`, whose prompt (the next keystroke's) will start the same way; the
    /// editor calls it when the cursor comes to rest somewhere new. Returns the prompt tokens
    /// computed.
    #[wasm_bindgen(js_name = prepareLine)]
    pub fn prepare_line(&self, prefix: &str, suffix: &str, max_tokens: usize) -> Result<usize, JsError> {
        let request = CompletionRequest::rest_of_line(prefix, suffix, max_tokens);
        let mut typing = self.typing.try_borrow_mut().map_err(|_| JsError::new("the local model is busy"))?;
        self.model.prepare_reusing(&request, &mut typing).map_err(|e| JsError::new(&e.to_string()))
    }

    /// Drops the cache `completeLine` keeps, so that its next call starts cold (benchmarks of
    /// the cold case; memory when completions stop).
    #[wasm_bindgen(js_name = forgetPrompt)]
    pub fn forget_prompt(&self) {
        if let Ok(mut typing) = self.typing.try_borrow_mut() {
            *typing = PromptReuse::default();
        }
    }

    /// A chat answer written offline exactly as the server's `generate` writes it: the question
    /// as comments after its context, greedy, to the end of the block. `on_text(text)` sees each
    /// decoded piece; returning `false` from it stops decoding (the chat's Stop button).
    pub fn answer(
        &self,
        question: &str,
        context: Option<String>,
        max_tokens: usize,
        #[wasm_bindgen(unchecked_param_type = "(text: string) => boolean")] on_text: &js_sys::Function,
    ) -> Result<JsValue, JsError> {
        let request = CompletionRequest {
            prefix: hapa_core::prompt::question_prefix(context.as_deref(), question),
            suffix: String::new(),
            stop: StopRules::block(max_tokens),
            sampling: Sampling::Greedy,
            syntax_aware: false,
            earlier_lines: 0,
        };
        let completion = self
            .model
            .complete(&request, |text| match on_text.call1(&JsValue::NULL, &JsValue::from_str(text)) {
                Ok(go_on) if go_on.is_falsy() => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            })
            .map_err(|e| JsError::new(&e.to_string()))?;
        serde_wasm_bindgen::to_value(&completion).map_err(|e| JsError::new(&e.to_string()))
    }

    /// Greedy tokens for a ready-made prompt, stopping at end-of-text (conformance tests).
    #[wasm_bindgen(js_name = greedyTokens)]
    pub fn greedy_tokens(&self, prompt: Vec<u32>, steps: usize) -> Result<Vec<u32>, JsError> {
        self.model.greedy_tokens(&prompt, steps).map_err(|e| JsError::new(&e.to_string()))
    }

    /// The last `prefix_tokens` tokens of `prefix` laid out as a fill-in-the-middle prompt with
    /// an empty suffix (latency benchmarks: made once, outside the timed work).
    #[wasm_bindgen(js_name = fimPrompt)]
    pub fn fim_prompt(&self, prefix: &str, prefix_tokens: usize) -> Vec<u32> {
        self.model.prompt_from_end(prefix, prefix_tokens)
    }

    /// Exactly `steps` greedy tokens after a ready-made prompt, end-of-text not stopping it (latency
    /// benchmarks: a fixed amount of work, the same as `hapa-model eval` times natively).
    #[wasm_bindgen(js_name = decodeExactly)]
    pub fn decode_exactly(&self, prompt: Vec<u32>, steps: usize) -> Result<Vec<u32>, JsError> {
        self.model.decode_exactly(&prompt, steps).map_err(|e| JsError::new(&e.to_string()))
    }
}
