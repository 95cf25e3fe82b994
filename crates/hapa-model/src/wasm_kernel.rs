//! Matrix-product kernels for WebAssembly's 128-bit SIMD that tract runs in place of its own:
//! an 8×4 tile for products of several columns (a prompt's tokens) and an 8×1 tile for one (a
//! decoded token), both over the same packing of the weights, so a graph whose token count is
//! known only at run time packs its weights once for both.
//!
//! Why kernels of our own: V8 compiles WebAssembly vectors to x86-64's sixteen XMM registers and
//! keeps one for itself. tract's 8×8 tile holds sixteen accumulators, so with the vectors it
//! multiplies it spills to memory on every step of the inner loop: 22–25 GFLOP/s on a
//! 512 × 256 × 768 product on the project's Xeon under Node 20. The 8×4 tile holds eight
//! accumulators, two vectors of the left operand and one broadcast, all in registers: about 28
//! GFLOP/s on the same product, and a cold 512-token prompt about a quarter faster. Built with
//! relaxed SIMD, `multiply_add` becomes a fused multiply-add (about 40 GFLOP/s on the bare loop):
//! the extension ships that build too (`out/wasm-relaxed`), and its model worker loads it where
//! the engine runs relaxed SIMD (VS Code's Electron; Node 20 only behind
//! `--experimental-wasm-relaxed-simd`), the plain build elsewhere.
//!
//! Layout, as tract defines it for a tile of MR rows and NR columns: the left operand is packed
//! MR values per step of the shared dimension, the right one NR values per step; column `c` of
//! the tile lives in `acc[c][0]` (rows 0–3) and `acc[c][1]` (rows 4–7), so a tile whose rows are
//! contiguous in the output (the layers' products, `[tokens, features]`) is stored four values
//! at a time.
#![cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
// A SIMD kernel reads raw pointers into tract's packed panels and output tiles, which is what
// tract's kernel interface hands it; nothing else in HAPA needs `unsafe`.
#![allow(unsafe_code)]

use std::arch::wasm32::*;
use tract_onnx::prelude::DatumType;
use tract_onnx::tract_core::tract_linalg::Scaler;
use tract_onnx::tract_core::tract_linalg::isa::{Arch, IsaSet};
use tract_onnx::tract_core::tract_linalg::mmm::{DynKernel, FusedKerSpec, MatMatMul, OutputStoreKer, Query, Suitable};
use tract_onnx::tract_core::tract_linalg::mmm_routines::MmmRoutine;
use tract_onnx::tract_core::tract_linalg::mmm_tiers::MmmTier;
use tract_onnx::tract_core::tract_linalg::pack::Packing;

/// The matrix-matrix kernel's name in tract's registry: eight rows by four columns.
pub const MATRIX_KERNEL: &str = "hapa_wasm_f32_8x4";
/// The matrix-vector kernel's name: eight rows by one column, over the same packing of the
/// left operand, so a graph whose token count is only known at run time packs its weights once
/// for both.
pub const VECTOR_KERNEL: &str = "hapa_wasm_f32_8x1";

/// Rows of the tile, two vectors of four.
const ROWS: usize = 8;

/// Column `c` of the tile: rows 0–3 in `[0]`, rows 4–7 in `[1]`.
type Tile<const COLUMNS: usize> = [[v128; 2]; COLUMNS];

/// `acc + a × b`, fused when the build has relaxed SIMD. The product loop and the rank-one update
/// both use it, so the two round alike.
#[inline(always)]
fn multiply_add(acc: v128, a: v128, b: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    {
        f32x4_relaxed_madd(a, b, acc)
    }
    #[cfg(not(target_feature = "relaxed-simd"))]
    {
        f32x4_add(acc, f32x4_mul(a, b))
    }
}

/// Eight consecutive floats as the tile's two halves (rows 0–3, rows 4–7): a per-row operand, or
/// one step of the left operand's panel.
///
/// # Safety
/// `values` points at eight floats.
#[inline(always)]
unsafe fn eight(values: *const f32) -> [v128; 2] {
    unsafe { [v128_load(values as *const v128), v128_load(values.add(4) as *const v128)] }
}

#[inline(always)]
fn each<const C: usize>(tile: &mut Tile<C>, op: impl Fn(v128) -> v128) {
    for column in tile.iter_mut() {
        for v in column.iter_mut() {
            *v = op(*v);
        }
    }
}

/// `op(operand, acc)` for a per-row operand of eight values: one vector per half, lane by lane.
///
/// # Safety
/// `values` points at eight floats.
#[inline(always)]
unsafe fn per_row<const C: usize>(tile: &mut Tile<C>, values: *const f32, op: impl Fn(v128, v128) -> v128) {
    let halves = unsafe { eight(values) };
    for column in tile.iter_mut() {
        for (v, half) in column.iter_mut().zip(halves) {
            *v = op(half, *v);
        }
    }
}

/// `op(operand, acc)` for a per-column operand of C values: column `c`'s value broadcast.
///
/// # Safety
/// `values` points at C floats.
#[inline(always)]
unsafe fn per_column<const C: usize>(tile: &mut Tile<C>, values: *const f32, op: impl Fn(v128, v128) -> v128) {
    for (c, column) in tile.iter_mut().enumerate() {
        let s = f32x4_splat(unsafe { *values.add(c) });
        for v in column.iter_mut() {
            *v = op(s, *v);
        }
    }
}

/// The address of row `r`, column `c` of an output tile.
///
/// # Safety
/// The tile holds that element.
#[inline(always)]
unsafe fn at(tile: &OutputStoreKer, r: usize, c: usize) -> *mut u8 {
    unsafe { tile.ptr.offset(r as isize * tile.row_byte_stride + c as isize * tile.col_byte_stride) }
}

/// Rows `r..r + 4` of column `c` of an output tile.
///
/// # Safety
/// The tile holds those elements.
#[inline(always)]
unsafe fn load_four(tile: &OutputStoreKer, r: usize, c: usize) -> v128 {
    unsafe {
        if tile.row_byte_stride == 4 {
            v128_load(at(tile, r, c) as *const v128)
        } else {
            f32x4(
                *(at(tile, r, c) as *const f32),
                *(at(tile, r + 1, c) as *const f32),
                *(at(tile, r + 2, c) as *const f32),
                *(at(tile, r + 3, c) as *const f32),
            )
        }
    }
}

/// Writes rows `r..r + 4` of column `c` of an output tile.
///
/// # Safety
/// The tile holds those elements.
#[inline(always)]
unsafe fn store_four(tile: &OutputStoreKer, r: usize, c: usize, v: v128) {
    unsafe {
        if tile.row_byte_stride == 4 {
            v128_store(at(tile, r, c) as *mut v128, v);
        } else {
            *(at(tile, r, c) as *mut f32) = f32x4_extract_lane::<0>(v);
            *(at(tile, r + 1, c) as *mut f32) = f32x4_extract_lane::<1>(v);
            *(at(tile, r + 2, c) as *mut f32) = f32x4_extract_lane::<2>(v);
            *(at(tile, r + 3, c) as *mut f32) = f32x4_extract_lane::<3>(v);
        }
    }
}

/// `tile += A × B` over `k` steps: A packed eight rows per step, B packed C columns per step.
///
/// # Safety
/// `a` holds 8k floats and `b` Ck.
#[inline(always)]
unsafe fn add_product<const C: usize>(tile: &mut Tile<C>, k: usize, a: *const f32, b: *const f32) {
    unsafe {
        if C == 1 {
            // One column: two accumulators would leave each multiply-add waiting on the one
            // before it, so four steps run side by side and are summed at the end.
            let mut partial = [[f32x4_splat(0.0); 2]; 4];
            let whole = k / 4 * 4;
            for step in (0..whole).step_by(4) {
                for (lane, sums) in partial.iter_mut().enumerate() {
                    let halves = eight(a.add(ROWS * (step + lane)));
                    let b = f32x4_splat(*b.add(step + lane));
                    sums[0] = multiply_add(sums[0], halves[0], b);
                    sums[1] = multiply_add(sums[1], halves[1], b);
                }
            }
            for step in whole..k {
                let halves = eight(a.add(ROWS * step));
                let b = f32x4_splat(*b.add(step));
                partial[0][0] = multiply_add(partial[0][0], halves[0], b);
                partial[0][1] = multiply_add(partial[0][1], halves[1], b);
            }
            for half in 0..2 {
                let sum = f32x4_add(
                    f32x4_add(partial[0][half], partial[1][half]),
                    f32x4_add(partial[2][half], partial[3][half]),
                );
                tile[0][half] = f32x4_add(tile[0][half], sum);
            }
        } else {
            for step in 0..k {
                let halves = eight(a.add(ROWS * step));
                let b = b.add(C * step);
                for (c, column) in tile.iter_mut().enumerate() {
                    let s = v128_load32_splat(b.add(c) as *const u32);
                    column[0] = multiply_add(column[0], halves[0], s);
                    column[1] = multiply_add(column[1], halves[1], s);
                }
            }
        }
    }
}

/// Runs tract's fused program for one tile of eight rows and C columns.
///
/// # Safety
/// tract's contract for a kernel: every pointer in `specs` is valid for this tile's geometry.
unsafe fn kernel<const C: usize>(specs: &[FusedKerSpec<f32>]) -> isize {
    let mut acc: Tile<C> = [[f32x4_splat(0.0); 2]; C];
    for spec in specs {
        unsafe {
            match *spec {
                FusedKerSpec::Done => break,
                FusedKerSpec::Clear => each(&mut acc, |_| f32x4_splat(0.0)),
                FusedKerSpec::LoadTile(column_major, _) => {
                    for (c, column) in acc.iter_mut().enumerate() {
                        *column = eight(column_major.add(c * ROWS));
                    }
                }
                FusedKerSpec::ScalarMin(s) => each(&mut acc, |v| f32x4_min(f32x4_splat(s), v)),
                FusedKerSpec::ScalarMax(s) => each(&mut acc, |v| f32x4_max(f32x4_splat(s), v)),
                FusedKerSpec::ScalarAdd(s) => each(&mut acc, |v| f32x4_add(f32x4_splat(s), v)),
                FusedKerSpec::ScalarMul(s) => each(&mut acc, |v| f32x4_mul(f32x4_splat(s), v)),
                FusedKerSpec::ScalarSub(s) => each(&mut acc, |v| f32x4_sub(f32x4_splat(s), v)),
                FusedKerSpec::ScalarSubF(s) => each(&mut acc, |v| f32x4_sub(v, f32x4_splat(s))),
                FusedKerSpec::LeakyRelu(alpha) => each(&mut acc, |v| {
                    let positive = f32x4_gt(v, f32x4_splat(0.0));
                    v128_bitselect(v, f32x4_mul(f32x4_splat(alpha), v), positive)
                }),
                FusedKerSpec::PerRowMin(p) => per_row(&mut acc, p, |s, v| f32x4_min(s, v)),
                FusedKerSpec::PerRowMax(p) => per_row(&mut acc, p, |s, v| f32x4_max(s, v)),
                FusedKerSpec::PerRowAdd(p) => per_row(&mut acc, p, |s, v| f32x4_add(s, v)),
                FusedKerSpec::PerRowMul(p) => per_row(&mut acc, p, |s, v| f32x4_mul(s, v)),
                FusedKerSpec::PerRowSub(p) => per_row(&mut acc, p, |s, v| f32x4_sub(s, v)),
                FusedKerSpec::PerRowSubF(p) => per_row(&mut acc, p, |s, v| f32x4_sub(v, s)),
                FusedKerSpec::PerColMin(p) => per_column(&mut acc, p, |s, v| f32x4_min(s, v)),
                FusedKerSpec::PerColMax(p) => per_column(&mut acc, p, |s, v| f32x4_max(s, v)),
                FusedKerSpec::PerColAdd(p) => per_column(&mut acc, p, |s, v| f32x4_add(s, v)),
                FusedKerSpec::PerColMul(p) => per_column(&mut acc, p, |s, v| f32x4_mul(s, v)),
                FusedKerSpec::PerColSub(p) => per_column(&mut acc, p, |s, v| f32x4_sub(s, v)),
                FusedKerSpec::PerColSubF(p) => per_column(&mut acc, p, |s, v| f32x4_sub(v, s)),
                FusedKerSpec::QScale(shift, policy, multiplier) => {
                    let scale = Scaler::from_fuse_params(shift, policy, multiplier).scale;
                    each(&mut acc, |v| f32x4_mul(f32x4_splat(scale), v))
                }
                FusedKerSpec::RoundingShiftRight(shift, _) => {
                    let scale = 2f32.powi(-(shift as i32));
                    each(&mut acc, |v| f32x4_mul(f32x4_splat(scale), v))
                }
                FusedKerSpec::ShiftLeft(shift) => {
                    let scale = 2f32.powi(shift as i32);
                    each(&mut acc, |v| f32x4_mul(f32x4_splat(scale), v))
                }
                FusedKerSpec::AddUnicast(tile) => {
                    for (c, column) in acc.iter_mut().enumerate() {
                        for (half, v) in column.iter_mut().enumerate() {
                            *v = f32x4_add(*v, load_four(&tile, 4 * half, c));
                        }
                    }
                }
                FusedKerSpec::AddRowColProducts(rows, columns) => {
                    let halves = eight(rows);
                    for (c, column) in acc.iter_mut().enumerate() {
                        let s = f32x4_splat(*columns.add(c));
                        for (v, half) in column.iter_mut().zip(halves) {
                            *v = multiply_add(*v, half, s);
                        }
                    }
                }
                FusedKerSpec::Store(tile) => {
                    for (c, column) in acc.iter().enumerate() {
                        for (half, v) in column.iter().enumerate() {
                            store_four(&tile, 4 * half, c, *v);
                        }
                    }
                }
                FusedKerSpec::AddMatMul { k, pa, pb, packing: _ } => {
                    add_product(&mut acc, k, pa as *const f32, pb as *const f32)
                }
            }
        }
    }
    0
}

/// Above every kernel of tract's for the same operands, so that where tract chooses among its
/// suitable kernels itself (a token count known only at run time) it chooses among these two.
const BOOST: isize = 1_000;

fn matrix_kernel() -> Box<dyn MatMatMul> {
    let mut kernel = DynKernel::<ROWS, 4, f32>::new(MATRIX_KERNEL, kernel::<4>, f32::packing(ROWS), f32::packing(4))
        .with_boost(|| BOOST);
    kernel.arch = Some(Arch::Wasm32Simd128);
    kernel.mmm()
}

fn vector_kernel() -> Box<dyn MatMatMul> {
    let mut kernel = DynKernel::<ROWS, 1, f32>::new(VECTOR_KERNEL, kernel::<1>, f32::packing(ROWS), f32::packing(1))
        .with_boost(|| BOOST);
    kernel.arch = Some(Arch::Wasm32Simd128);
    kernel.mmm()
}

inventory::submit! { MmmRoutine { make: matrix_kernel } }
inventory::submit! { MmmRoutine { make: vector_kernel } }

/// Where a product's column count is known: more than one column goes to the 8×4 kernel; a
/// matrix-vector product stays with tract's own tier, which has wider ones.
fn preferred(_: &IsaSet, accumulator: DatumType, query: &Query, _: &[Suitable]) -> Option<&'static str> {
    (accumulator == DatumType::F32 && query.n != Some(1)).then_some(MATRIX_KERNEL)
}

inventory::submit! {
    MmmTier {
        arch: Some(Arch::Wasm32Simd128),
        precedence: 9,
        name: "hapa-wasm-8x4",
        applies: |_| true,
        preferred,
    }
}

/// Keeps this module in the linked WebAssembly: wasm-ld drops an object file nothing refers to,
/// and the registry entries above are referred to by nothing but the registry.
pub fn link() {
    std::hint::black_box((
        matrix_kernel as fn() -> Box<dyn MatMatMul>,
        vector_kernel as fn() -> Box<dyn MatMatMul>,
        preferred as fn(&IsaSet, DatumType, &Query, &[Suitable]) -> Option<&'static str>,
    ));
}
