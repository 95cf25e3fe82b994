//! The ONNX graph and its key/value cache: load once, then feed tokens incrementally.
//!
//! The graph (see `models/export.py`, format 2) takes the new tokens, their positions, an
//! attention bias and each layer's cached keys and values, and returns the next-token logits and
//! each layer's grown keys and values. The cache starts with a few zero slots that the bias always
//! masks, so no tensor is ever empty (and tract can prove its lengths long enough, see
//! [`ZERO_SLOTS`]).

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::konst::Const;

use crate::ModelError;
use crate::tokenizer::TokenId;

const MASKED: f32 = -1e9;

/// The most tokens one run of the graph takes. A run's queries attend to every position before
/// them and to each other, so its attention scores, their bias and their softmax grow with the
/// square of its length: fed 128 at a time, a 512-token prompt computes about five eighths of
/// them (each piece attends to the pieces before it and to itself, not to those after). The
/// logits are the same; a cold 512-token prompt takes about a tenth less time in WASM (measured
/// against 64, 96 and 256 in the same run; 128 was quickest). Decoding feeds one token a run.
const LONGEST_RUN: usize = 128;

/// The attention bias's place among the graph's inputs (after the token ids and positions).
const BIAS_INPUT: usize = 2;

/// Zero slots at the start of every layer's cache, masked by the bias for every query.
///
/// One would keep every tensor non-empty. Eight let tract prove that the attention scores of the
/// bundled model's four heads (4 × `tokens` × `past + tokens`, with `past >= 8`) hold at least 32
/// numbers, which it wants before it adds the bias through its SIMD path (`OptAddUnicast`) rather
/// than a generic broadcasting loop (a model with fewer heads would need more slots for the same
/// proof; with too few, the bias only falls back to the slower loop). The bias is therefore handed
/// in per head, the shape of the scores it is added to. A masked
/// slot costs each query one more score, and changes no logit (its weight after the softmax is 0).
const ZERO_SLOTS: usize = 8;

/// The shape facts the runtime needs about the graph, from `hapa-code.json`.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub struct Shape {
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads per layer.
    pub heads: usize,
    /// Width of one head.
    pub head_width: usize,
    /// Positions the rotary table covers: prompt plus completion must fit.
    pub max_positions: usize,
    /// Vocabulary size (length of the logits).
    pub vocab_size: usize,
}

/// A loaded, optimised, runnable graph.
pub struct Network {
    plan: Arc<TypedSimplePlan>,
    shape: Shape,
}

/// One decoding state: each layer's keys and values ([1, heads, 1 + positions, head_width],
/// keys then values, layer by layer), the number of positions they hold and tract's run state
/// (reused from token to token rather than rebuilt for each).
pub struct Cache {
    past: Vec<Tensor>,
    positions: usize,
    state: TypedSimpleState,
}

impl Cache {
    /// Positions consumed so far (prompt plus generated tokens).
    pub fn positions(&self) -> usize {
        self.positions
    }

    /// Forgets every position from `positions` on, so that decoding can go on from an earlier
    /// point (a prompt that shares only its start with what the cache holds).
    pub fn truncate(&mut self, positions: usize) -> Result<(), ModelError> {
        if positions >= self.positions {
            return Ok(());
        }
        for tensor in &mut self.past {
            *tensor = tensor.slice(2, 0, ZERO_SLOTS + positions).map_err(|e| ModelError::Run(format!("{e:#}")))?;
        }
        self.positions = positions;
        Ok(())
    }
}

/// Packs, once at load time, the weight matrices that tract would otherwise pack on every run.
///
/// tract folds a weight's packing into a constant only for a weight with a single user (or a
/// small one): the tied embedding (8,192 × 256) is both the input embedding table and the output
/// projection, so its packing for the logits (8 MB) ran again for every decoded token. Packed
/// once here it costs that memory a second time and saves milliseconds per token.
fn pack_weights_once(model: &mut TypedModel) -> TractResult<()> {
    let packs: Vec<usize> = model
        .nodes()
        .iter()
        .filter(|node| {
            node.op.name() == "OptMatMulPack"
                && node.inputs.len() == 1
                && model.outlet_fact(node.inputs[0]).is_ok_and(|fact| fact.konst.is_some())
        })
        .map(|node| node.id)
        .collect();
    for id in packs {
        let node = model.node(id);
        let Some(weight) = model.outlet_fact(node.inputs[0])?.konst.clone() else { continue };
        let Some(mut packed) = node.op.eval_out_of_plan(tvec![weight.into_tvalue()])? else { continue };
        let packing = model.outlet_fact(id.into())?.exotic_fact.clone();
        let constant = Const::new_with_opt_exotic_fact(packed.remove(0).into_arc_tensor(), packing)?;
        let mut patch = TypedModelPatch::default();
        let wire = patch.wire_node(format!("{}.once", node.name), constant, &[])?[0];
        patch.shunt_outside(model, id.into(), wire)?;
        patch.apply(model)?;
    }
    Ok(())
}

impl Network {
    /// Reads, types, optimises and plans the graph.
    pub fn from_onnx_bytes(mut bytes: &[u8], shape: Shape) -> Result<Self, ModelError> {
        let load = |e: TractError| ModelError::Load(format!("{e:#}"));
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        crate::wasm_kernel::link();
        let mut model = tract_onnx::onnx().model_for_read(&mut bytes).map_err(load)?;
        // What the graph's symbolic lengths are, told to tract: a run feeds at least one new token,
        // the cache always holds its masked zero slots, and the bias, one per head, covers exactly
        // the cached and the new positions (the graph names that length on its own). With these
        // tract can prove its elementwise operands long enough for its SIMD paths (the rotary
        // products, the residual additions, the bias); otherwise they fall to a generic
        // broadcasting loop. tract bounds a product (the scores' length) only from both bounds of
        // its factors, hence the upper ones.
        let most = shape.max_positions;
        for assertion in [
            "tokens >= 1".to_owned(),
            format!("tokens <= {most}"),
            format!("past >= {ZERO_SLOTS}"),
            format!("past <= {}", ZERO_SLOTS + most),
        ] {
            model.symbols.add_assertion(&assertion).map_err(load)?;
        }
        let tokens = TDim::from(model.symbols.sym("tokens"));
        let positions = TDim::from(model.symbols.sym("past")) + tokens.clone();
        let bias = f32::fact([1.to_dim(), shape.heads.to_dim(), tokens, positions]);
        model.set_input_fact(BIAS_INPUT, bias.into()).map_err(load)?;
        let mut model = model.into_optimized().map_err(load)?;
        pack_weights_once(&mut model).map_err(load)?;
        let plan = model.into_runnable().map_err(load)?;
        Ok(Self { plan, shape })
    }

    /// The graph's shape facts.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// An empty cache (just the masked zero slots).
    pub fn new_cache(&self) -> Result<Cache, ModelError> {
        let fail = |e: TractError| ModelError::Run(format!("{e:#}"));
        let Shape { layers, heads, head_width, .. } = self.shape;
        let past = (0..2 * layers)
            .map(|_| Tensor::zero::<f32>(&[1, heads, ZERO_SLOTS, head_width]))
            .collect::<TractResult<Vec<_>>>()
            .map_err(fail)?;
        Ok(Cache { past, positions: 0, state: self.plan.spawn().map_err(fail)? })
    }

    /// Feeds `tokens` after what `cache` holds; returns the logits for the token after them.
    ///
    /// A long run of tokens (a cold prompt) goes through the graph [`LONGEST_RUN`] at a time.
    pub fn feed(&self, cache: &mut Cache, tokens: &[TokenId]) -> Result<Vec<f32>, ModelError> {
        if tokens.is_empty() {
            return Err(ModelError::Run("nothing to feed".into()));
        }
        if cache.positions + tokens.len() > self.shape.max_positions {
            return Err(ModelError::Run(format!(
                "{} positions exceed the model's {}",
                cache.positions + tokens.len(),
                self.shape.max_positions
            )));
        }
        let mut logits = Vec::new();
        for run in tokens.chunks(LONGEST_RUN) {
            logits = self.run(cache, run)?;
        }
        Ok(logits)
    }

    /// One run of the graph over `tokens` (not empty; they fit the rotary table).
    fn run(&self, cache: &mut Cache, tokens: &[TokenId]) -> Result<Vec<f32>, ModelError> {
        let run = |e: TractError| ModelError::Run(format!("{e:#}"));
        let new = tokens.len();
        let past_slots = ZERO_SLOTS + cache.positions;
        let total = past_slots + new;
        let ids: Vec<i64> = tokens.iter().map(|t| i64::from(*t)).collect();
        let positions: Vec<i64> = (cache.positions..cache.positions + new).map(|p| p as i64).collect();
        let mut one_head = vec![0f32; new * total];
        for query in 0..new {
            let row = &mut one_head[query * total..(query + 1) * total];
            row[..ZERO_SLOTS].fill(MASKED);
            row[past_slots + query + 1..].fill(MASKED);
        }
        let heads = self.shape.heads;
        let bias = one_head.repeat(heads);
        let mut inputs = tvec![
            Tensor::from_shape(&[1, new], &ids).map_err(run)?.into(),
            Tensor::from_shape(&[1, new], &positions).map_err(run)?.into(),
            Tensor::from_shape(&[1, heads, new, total], &bias).map_err(run)?.into(),
        ];
        inputs.extend(cache.past.drain(..).map(TValue::from));
        let mut outputs = cache.state.run(inputs).map_err(run)?.into_iter();
        let logits = outputs.next().ok_or_else(|| ModelError::Run("no logits output".into()))?;
        cache.past = outputs.map(TValue::into_tensor).collect();
        if cache.past.len() != 2 * self.shape.layers {
            return Err(ModelError::Run(format!("the graph returned {} cache tensors", cache.past.len())));
        }
        cache.positions += new;
        Ok(logits.to_plain_array_view::<f32>().map_err(run)?.iter().copied().collect())
    }
}
