//! hapa-model's WebAssembly matrix kernels (`hapa_model::wasm_kernel`) under Node: tract picks
//! them, and the products they compute, with the operations tract fuses into them, equal plain
//! loops, on tiles that fill exactly and on ragged ones. The kernels exist only in WebAssembly
//! with SIMD, so natively this file is empty.
#![cfg(all(target_arch = "wasm32", target_feature = "simd128"))]

use hapa_model::wasm_kernel::{MATRIX_KERNEL, VECTOR_KERNEL};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::math;
use wasm_bindgen_test::wasm_bindgen_test;

/// Deterministic values in [-1, 1) that differ from one element to the next.
fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * 7919 + seed * 104_729) % 2000) as f32 / 1000.0 - 1.0).collect()
}

/// `relu(weights · input + row_bias) + residual`, as plain loops: weights [m, k], input [k, n].
fn reference(
    weights: &[f32],
    row_bias: &[f32],
    input: &[f32],
    residual: &[f32],
    (m, k, n): (usize, usize, usize),
) -> Vec<f32> {
    let mut out = vec![0f32; m * n];
    for row in 0..m {
        for column in 0..n {
            let dot: f32 = (0..k).map(|i| weights[row * k + i] * input[i * n + column]).sum();
            out[row * n + column] = (dot + row_bias[row]).max(0.0) + residual[row * n + column];
        }
    }
    out
}

/// The same computation as a tract graph whose product tract lowers to a kernel and fuses the
/// bias, the ReLU and the residual into. `columns` is the input's column count, or `None` when it
/// is only known at run time (as a prompt's token count is).
fn graph(
    weights: &[f32],
    row_bias: &[f32],
    (m, k): (usize, usize),
    columns: Option<usize>,
) -> TractResult<Arc<TypedRunnableModel>> {
    let mut model = TypedModel::default();
    let columns = match columns {
        Some(n) => TDim::from(n),
        None => TDim::Sym(model.symbols.sym("tokens")),
    };
    let input = model.add_source("input", f32::fact(&[TDim::from(k), columns.clone()]))?;
    let residual = model.add_source("residual", f32::fact(&[TDim::from(m), columns]))?;
    let weights = model.add_const("weights", Tensor::from_shape(&[m, k], weights)?)?;
    let row_bias = model.add_const("row_bias", Tensor::from_shape(&[m, 1], row_bias)?)?;
    let zero = model.add_const("zero", tensor2(&[[0f32]]))?;
    let product =
        model.wire_node("product", EinSum::new("mk,kn->mn".parse()?, f32::datum_type()), &[weights, input])?;
    let biased = model.wire_node("bias", math::add(), &[product[0], row_bias])?;
    let relu = model.wire_node("relu", math::max(), &[biased[0], zero])?;
    let out = model.wire_node("residual_add", math::add(), &[relu[0], residual])?;
    model.select_output_outlets(&out)?;
    model.into_optimized()?.into_runnable()
}

/// The kernels each lowered product of the plan runs, as tract describes them.
fn kernels_of(plan: &Arc<TypedRunnableModel>) -> Vec<String> {
    plan.model()
        .nodes()
        .iter()
        .filter(|node| node.op.name() == "OptMatMul")
        .flat_map(|node| node.op.info().unwrap_or_default())
        .filter(|line| line.starts_with("Mult:"))
        .collect()
}

fn check(plan: &Arc<TypedRunnableModel>, weights: &[f32], row_bias: &[f32], (m, k, n): (usize, usize, usize)) {
    let input = values(k * n, 3);
    let residual = values(m * n, 4);
    let outputs = plan
        .run(tvec![
            Tensor::from_shape(&[k, n], &input).unwrap().into_tvalue(),
            Tensor::from_shape(&[m, n], &residual).unwrap().into_tvalue(),
        ])
        .unwrap();
    let got: Vec<f32> = outputs[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect();
    let expected = reference(weights, row_bias, &input, &residual, (m, k, n));
    for (index, (got, expected)) in got.iter().zip(&expected).enumerate() {
        let tolerance = 1e-4 * (1.0 + expected.abs() + k as f32 / 64.0);
        assert!(
            (got - expected).abs() <= tolerance,
            "m={m} k={k} n={n}: element {index} is {got}, expected {expected}"
        );
    }
}

#[wasm_bindgen_test]
fn products_with_a_known_column_count_run_the_8x4_kernel_and_equal_plain_loops() {
    hapa_model::wasm_kernel::link();
    for (m, k, n) in [(8, 4, 4), (16, 64, 8), (9, 17, 5), (3, 5, 2), (37, 70, 13), (64, 256, 33)] {
        let (weights, row_bias) = (values(m * k, 1), values(m, 2));
        let plan = graph(&weights, &row_bias, (m, k), Some(n)).unwrap();
        let kernels = kernels_of(&plan);
        assert!(kernels.iter().all(|line| line.contains(MATRIX_KERNEL)), "m={m} k={k} n={n}: {kernels:?}");
        check(&plan, &weights, &row_bias, (m, k, n));
    }
}

#[wasm_bindgen_test]
fn products_whose_column_count_comes_at_run_time_pair_the_8x1_and_8x4_kernels() {
    hapa_model::wasm_kernel::link();
    let (m, k) = (40, 96);
    let (weights, row_bias) = (values(m * k, 5), values(m, 6));
    let plan = graph(&weights, &row_bias, (m, k), None).unwrap();
    let kernels = kernels_of(&plan);
    assert!(kernels.iter().any(|line| line.contains(VECTOR_KERNEL) && line.contains(MATRIX_KERNEL)), "{kernels:?}");
    for n in [1, 2, 4, 7, 12] {
        check(&plan, &weights, &row_bias, (m, k, n));
    }
}
