//! x86-64 code of the chunked batch kernel ([`super::batch`]): the pre-pass with AVX-512 for
//! batches of up to 16 instruments (their limits fit in two vector registers per parameter, so a
//! lookup is one permute), the portable pre-pass compiled for x86-64-v3, and the sequential pass.
//!
//! Every floating-point operation here is one of `explain`'s, in the same order, on the same
//! operands (packed two or eight at a time; no fused multiply-adds), so the numbers are
//! bit-identical; the conformance tests check it.

use std::arch::x86_64::*;
use std::ops::Range;
use std::ptr::{addr_of, addr_of_mut};

use super::batch::{prepare_rows, ChunkCols, KeyParams, Prepared, CHUNK};
use super::engine::{DecisionColumns, OrderBatch, RiskEngine, Totals, GRID_TOLERANCE};
use super::slot::Slot;
use crate::time::{MAX_TS, MIN_TS};

/// The instruction sets the kernel runs with (detected at run time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// AVX2, FMA, BMI (x86-64-v3).
    V3,
    /// v3 plus AVX-512 F/BW/CD/DQ/VL (x86-64-v4).
    V4,
}

impl Kernel {
    /// The best kernel this CPU runs, if any.
    pub(crate) fn detect() -> Option<Kernel> {
        if crate::cpu::has_x86_64_v4() {
            Some(Kernel::V4)
        } else if crate::cpu::has_x86_64_v3() {
            Some(Kernel::V3)
        } else {
            None
        }
    }

    /// Runs the chunked kernel over a whole batch (see [`RiskEngine::run_chunked`]), compiled
    /// for this kernel's instruction sets so that every pass inlines into one loop. Returns the
    /// number of rejected orders.
    pub(crate) fn run(self, e: &mut RiskEngine, o: &OrderBatch<'_>, commit: bool, out: &mut DecisionColumns) -> usize {
        // SAFETY: `detect` found every feature these functions are compiled for.
        unsafe {
            match self {
                Kernel::V4 => run_v4(e, o, commit, out),
                Kernel::V3 => run_v3(e, o, commit, out),
            }
        }
    }

    /// The pre-pass over one chunk (see [`Prepared`]).
    ///
    /// # Safety
    /// The CPU supports this kernel's instruction sets.
    #[inline(always)]
    pub(crate) unsafe fn prepare(self, params: &[KeyParams], c: &ChunkCols<'_>, p: &mut Prepared) {
        let plain = c.order_type.is_empty() && c.reduce_only.is_empty();
        match (self, params.len() <= 16, plain) {
            (Kernel::V4, true, true) => prepare_avx512::<true>(params, c, p),
            (Kernel::V4, true, false) => prepare_avx512::<false>(params, c, p),
            (_, _, true) => prepare_rows::<true>(params, c, p),
            (_, _, false) => prepare_rows::<false>(params, c, p),
        }
    }

    /// The sequential pass over the eligible rows `rows` of a prepared chunk: each order is
    /// applied (when `commit`) unless it increases the worst case and gross exposure, margin or
    /// the worst case after it exceeds its limit. Returns the first row that does (not
    /// applied), or `rows.end`.
    ///
    /// # Safety
    /// The CPU supports x86-64-v3; `p` comes from [`Kernel::prepare`] with parameters built from
    /// `slots`, and every row in `rows` is eligible (so its slot offset lies in `slots`);
    /// `limits` is `[max_gross, equity or +inf without the buying-power check]`.
    #[inline(always)]
    pub(crate) unsafe fn run_eligible(self, slots: &mut [Slot], p: &Prepared, rows: Range<usize>, t: &mut Totals, limits: [f64; 2], commit: bool) -> usize {
        debug_assert!(rows.end <= CHUNK);
        debug_assert!(rows.clone().all(|j| (p.offset[j] as usize) < std::mem::size_of_val(slots)));
        if commit {
            run_eligible_v3::<true>(slots, p, rows, t, limits)
        } else {
            run_eligible_v3::<false>(slots, p, rows, t, limits)
        }
    }
}

/// The whole chunked kernel compiled for x86-64-v4.
#[target_feature(enable = "avx,avx2,bmi1,bmi2,fma,lzcnt,popcnt,avx512f,avx512bw,avx512cd,avx512dq,avx512vl")]
unsafe fn run_v4(e: &mut RiskEngine, o: &OrderBatch<'_>, commit: bool, out: &mut DecisionColumns) -> usize {
    e.run_chunked(Kernel::V4, o, commit, out)
}

/// The whole chunked kernel compiled for x86-64-v3.
#[target_feature(enable = "avx,avx2,bmi1,bmi2,fma,lzcnt,popcnt")]
unsafe fn run_v3(e: &mut RiskEngine, o: &OrderBatch<'_>, commit: bool, out: &mut DecisionColumns) -> usize {
    e.run_chunked(Kernel::V3, o, commit, out)
}

/// Up to 16 keys' values of one parameter in two registers; `get` looks 8 keys up at once.
#[derive(Clone, Copy)]
struct Lanes16 {
    lo: __m512d,
    hi: __m512d,
}

impl Lanes16 {
    #[target_feature(enable = "avx512f")]
    unsafe fn new(params: &[KeyParams], f: impl Fn(&KeyParams) -> f64) -> Lanes16 {
        let mut v = [f(&KeyParams::NONE); 16];
        for (x, k) in v.iter_mut().zip(params) {
            *x = f(k);
        }
        Lanes16 { lo: _mm512_loadu_pd(v.as_ptr()), hi: _mm512_loadu_pd(v.as_ptr().add(8)) }
    }

    /// The values of keys `k` (64-bit lanes; only the low 4 bits are used).
    #[inline(always)]
    unsafe fn get(self, k: __m512i) -> __m512d {
        _mm512_permutex2var_pd(self.lo, k, self.hi)
    }
}

/// `|x - round_ties_even(x)|`, the distance to the grid that `explain` compares with
/// [`GRID_TOLERANCE`].
#[inline(always)]
unsafe fn grid_distance(x: __m512d) -> __m512d {
    let abs = _mm512_castsi512_pd(_mm512_set1_epi64(i64::MAX));
    _mm512_and_pd(_mm512_sub_pd(x, _mm512_roundscale_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x)), abs)
}

/// Stores `[a0, b0, a1, b1, ..., a7, b7]` at `dst` (eight pairs).
#[inline(always)]
unsafe fn store_pairs(dst: *mut [f64; 2], a: __m512d, b: __m512d) {
    let dst = dst.cast::<f64>();
    _mm512_storeu_pd(dst, _mm512_permutex2var_pd(a, _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), b));
    _mm512_storeu_pd(dst.add(8), _mm512_permutex2var_pd(a, _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15), b));
}

/// Asks for the cache lines of the next chunk's rows `j..j + 8` while this chunk is worked on:
/// the pre-pass streams the columns in chunk-sized bursts, which the hardware prefetchers (that
/// stop at every 4 KB page) do not run ahead of. Addresses past the end are never dereferenced
/// (a prefetch does not fault), hence `wrapping_add`.
#[inline(always)]
unsafe fn prefetch_next_chunk(c: &ChunkCols<'_>, j: usize) {
    let ahead = CHUNK + j;
    _mm_prefetch::<_MM_HINT_T0>(c.qty.as_ptr().wrapping_add(ahead).cast());
    _mm_prefetch::<_MM_HINT_T0>(c.price.as_ptr().wrapping_add(ahead).cast());
    if c.ts.len() > 1 {
        _mm_prefetch::<_MM_HINT_T0>(c.ts.as_ptr().wrapping_add(ahead).cast());
    }
    if j.is_multiple_of(16) {
        _mm_prefetch::<_MM_HINT_T0>(c.keys.as_ptr().wrapping_add(ahead).cast());
    }
    if j.is_multiple_of(64) {
        _mm_prefetch::<_MM_HINT_T0>(c.side.as_ptr().wrapping_add(ahead).cast());
    }
}

/// The pre-pass with AVX-512, eight rows at a time, for at most 16 keys: the same conditions
/// and outputs as [`prepare_rows`].
#[target_feature(enable = "avx,avx2,bmi1,bmi2,fma,lzcnt,popcnt,avx512f,avx512bw,avx512cd,avx512dq,avx512vl")]
unsafe fn prepare_avx512<const PLAIN: bool>(params: &[KeyParams], c: &ChunkCols<'_>, p: &mut Prepared) {
    debug_assert!(params.len() <= 16 && c.qty.len() <= CHUNK);
    let max_qty = Lanes16::new(params, |k| k.max_qty);
    let max_notional = Lanes16::new(params, |k| k.max_notional);
    let multiplier = Lanes16::new(params, |k| k.multiplier);
    let margin_fixed = Lanes16::new(params, |k| k.margin_fixed);
    let margin_factor = Lanes16::new(params, |k| k.margin_factor);
    let inv_lot = Lanes16::new(params, |k| k.inv_lot);
    let inv_tick = Lanes16::new(params, |k| k.inv_tick);
    let offset = Lanes16::new(params, |k| f64::from_bits(k.offset as u64));
    let keys = _mm512_set1_epi64(params.len() as i64);
    let (one, minus_one) = (_mm512_set1_epi64(1), _mm512_set1_epi64(-1));
    let (ts_lo, ts_span) = (_mm512_set1_epi64(MIN_TS), _mm512_set1_epi64(MAX_TS - MIN_TS));
    let zero = _mm512_setzero_pd();
    let neg_zero = _mm512_set1_pd(-0.0);
    let tol = _mm512_set1_pd(GRID_TOLERANCE);
    let m = c.qty.len();
    let one_ts = c.ts.len() == 1;
    let mut ts_min = _mm512_set1_epi64(i64::MAX);
    p.eligible = [0; CHUNK / 64];
    // Eight rows per step; the last step loads only the rows that exist (masked loads never
    // touch memory for masked-off lanes) and stores whole registers into the chunk buffers
    // (CHUNK is a multiple of 8).
    for j in (0..m).step_by(8) {
        prefetch_next_chunk(c, j);
        let rows: __mmask8 = if m - j >= 8 { 0xff } else { (1u8 << (m - j)) - 1 };
        let key = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(rows, c.keys.as_ptr().add(j)));
        let side = _mm512_cvtepi8_epi64(_mm_maskz_loadu_epi8(rows as __mmask16, c.side.as_ptr().add(j)));
        let qty = _mm512_maskz_loadu_pd(rows, c.qty.as_ptr().add(j));
        let price = _mm512_maskz_loadu_pd(rows, c.price.as_ptr().add(j));
        let ts = if one_ts { _mm512_set1_epi64(c.ts[0]) } else { _mm512_maskz_loadu_epi64(rows, c.ts.as_ptr().add(j)) };
        ts_min = _mm512_mask_min_epi64(ts_min, rows, ts_min, ts);
        let buy = _mm512_cmpeq_epi64_mask(side, one);
        let sell = _mm512_cmpeq_epi64_mask(side, minus_one);
        // Each masked compare ANDs its condition into the eligible lanes.
        let mut ok = _mm512_mask_cmplt_epu64_mask(rows & (buy | sell), key, keys);
        ok = _mm512_mask_cmplt_epu64_mask(ok, _mm512_sub_epi64(ts, ts_lo), ts_span);
        ok = _mm512_mask_cmp_pd_mask::<_CMP_GT_OQ>(ok, qty, zero);
        ok = _mm512_mask_cmp_pd_mask::<_CMP_LE_OQ>(ok, qty, max_qty.get(key));
        ok = _mm512_mask_cmp_pd_mask::<_CMP_LE_OQ>(ok, grid_distance(_mm512_mul_pd(qty, inv_lot.get(key))), tol);
        ok = _mm512_mask_cmp_pd_mask::<_CMP_GT_OQ>(ok, price, zero);
        let notional = _mm512_mul_pd(_mm512_mul_pd(qty, price), multiplier.get(key));
        ok = _mm512_mask_cmp_pd_mask::<_CMP_LE_OQ>(ok, notional, max_notional.get(key));
        if !PLAIN {
            if !c.order_type.is_empty() {
                let types = _mm_maskz_loadu_epi8(rows as __mmask16, c.order_type.as_ptr().add(j).cast());
                let limit = _mm_cmpeq_epi8_mask(types, _mm_set1_epi8(1)) as __mmask8;
                let on_tick = _mm512_cmp_pd_mask::<_CMP_LE_OQ>(grid_distance(_mm512_mul_pd(price, inv_tick.get(key))), tol);
                ok &= !limit | on_tick;
            }
            if !c.reduce_only.is_empty() {
                let flags = _mm_maskz_loadu_epi8(rows as __mmask16, c.reduce_only.as_ptr().add(j).cast());
                ok &= !(_mm_test_epi8_mask(flags, flags) as __mmask8);
            }
        }
        p.eligible[j / 64] |= (ok as u64) << (j % 64);
        let unit = _mm512_add_pd(margin_fixed.get(key), _mm512_mul_pd(price, margin_factor.get(key)));
        store_pairs(p.price_unit.as_mut_ptr().add(j), price, unit);
        let add_long = _mm512_maskz_mov_pd(buy, qty);
        let neg_add_short = _mm512_mask_blend_pd(buy, _mm512_xor_pd(qty, neg_zero), neg_zero);
        store_pairs(p.add.as_mut_ptr().add(j), neg_add_short, add_long);
        let off = _mm512_cvtepi64_epi32(_mm512_castpd_si512(offset.get(key)));
        _mm256_storeu_si256(p.offset.as_mut_ptr().add(j).cast(), off);
    }
    p.ts_min = _mm512_reduce_min_epi64(ts_min);
}

/// The sequential pass (see [`Kernel::run_eligible`]). Per order: the worst case after it as
/// `fmax(|long + add_long|, |short - add_short|)` from `[position, position] + [-open_sell,
/// open_buy] + [-add_short, add_long]`, then `[exposure, margin] = ([w, w] * [price, unit]) *
/// [multiplier, 1]` and `[gross, margin_total] = totals + ([exposure, margin] - slot's)`, and one
/// compare of `[gross, margin_total, w, w]` with `[max_gross, equity, max_pos, max_pos]`; only
/// when that finds an excess, the worst case before the order (to see whether it increases).
#[target_feature(enable = "avx,avx2,bmi1,bmi2,fma,lzcnt,popcnt")]
unsafe fn run_eligible_v3<const COMMIT: bool>(slots: &mut [Slot], p: &Prepared, rows: Range<usize>, t: &mut Totals, limits: [f64; 2]) -> usize {
    let base = slots.as_mut_ptr().cast::<u8>();
    let global = _mm256_castpd128_pd256(_mm_loadu_pd(limits.as_ptr()));
    let abs = _mm_castsi128_pd(_mm_set1_epi64x(i64::MAX));
    let mut totals = _mm_set_pd(t.margin, t.gross);
    let mut j = rows.start;
    while j < rows.end {
        let s = base.add(*p.offset.get_unchecked(j) as usize).cast::<Slot>();
        let open = addr_of_mut!((*s).open).cast::<f64>();
        let held = addr_of_mut!((*s).exposure_margin).cast::<f64>();
        let x = _mm_load_pd(open);
        let before = _mm_add_pd(_mm_loaddup_pd(addr_of!((*s).position)), x);
        let add = _mm_loadu_pd(p.add.get_unchecked(j).as_ptr());
        let after = _mm_and_pd(_mm_add_pd(before, add), abs);
        // Lane 1: |long| > |short| ? |long| : |short|, which is `fmax(|long|, |short|)`.
        let worst = _mm_permute_pd::<0b11>(_mm_max_pd(after, _mm_permute_pd::<0b01>(after)));
        let price_unit = _mm_loadu_pd(p.price_unit.get_unchecked(j).as_ptr());
        let scale = _mm_load_pd(addr_of!((*s).scale).cast());
        let em = _mm_mul_pd(_mm_mul_pd(worst, price_unit), scale);
        let next = _mm_add_pd(totals, _mm_sub_pd(em, _mm_load_pd(held)));
        let limit = _mm256_insertf128_pd::<1>(global, _mm_loaddup_pd(addr_of!((*s).max_pos)));
        let value = _mm256_insertf128_pd::<1>(_mm256_castpd128_pd256(next), worst);
        if _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_GT_OQ>(value, limit)) != 0 {
            // A limit is exceeded, which only matters when the order increases the worst case
            // (`explain` checks the limits only then, and accepts otherwise: the order is
            // eligible and the rate limit proved not to trip). A book at a limit sends every
            // order of one side here; its reducing orders are accepted without `explain`.
            let abs_before = _mm_and_pd(before, abs);
            let w_before = _mm_permute_pd::<0b11>(_mm_max_pd(abs_before, _mm_permute_pd::<0b01>(abs_before)));
            if _mm_comigt_sd(worst, w_before) != 0 {
                break;
            }
        }
        if COMMIT {
            _mm_store_pd(open, _mm_add_pd(x, add));
            _mm_store_pd(held, em);
            _mm_store_sd(addr_of_mut!((*s).last_price), price_unit);
            totals = next;
        }
        j += 1;
    }
    t.gross = _mm_cvtsd_f64(totals);
    t.margin = _mm_cvtsd_f64(_mm_unpackhi_pd(totals, totals));
    j
}
