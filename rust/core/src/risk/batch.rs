//! The chunked kernel behind [`RiskEngine::validate_batch`].
//!
//! A batch is exactly a sequence of `validate` calls; the row loop
//! ([`RiskEngine::rows_exact`]) does that literally. The kernel reaches the same decisions,
//! numbers and state by splitting each chunk of up to [`CHUNK`] orders into passes:
//!
//! 1. **Pre-pass** (vectorized, no state): per order, every check that depends only on the order
//!    and its instrument's limits (known and tradable instrument, side, timestamp, quantity,
//!    lot grid, price, tick grid for limits, per-order quantity and notional caps; reduce-only
//!    orders are left to the exact path). The result is a bit per order, *eligible*, plus what
//!    the sequential pass needs: the slot's address, `[-add_short, add_long]`,
//!    `[price, margin per contract]`, and the chunk's smallest timestamp.
//! 2. **Rate proof**: [`RateRing::cannot_trip`](super::rate::RateRing::cannot_trip) proves from
//!    the ring and that timestamp that no order of the chunk can trip the rate limit, however
//!    many are accepted. Without a proof the chunk goes to the row loop.
//! 3. **Sequential pass**: eligible orders run through a tight loop that computes the
//!    worst case after the order, its exposure and margin and the running totals with exactly
//!    the operations of `explain`, and accepts the order unless it increases the worst case
//!    and gross exposure, margin or the worst case exceeds its limit (the condition under which
//!    `explain` checks those limits). Orders that are not eligible, or that are over a limit, are
//!    decided by `explain` itself ([`RiskEngine::row_explained`]); the loop then resumes.
//! 4. The accepted orders' timestamps enter the rate window in one block copy.
//!
//! Halted and reducing engines, small batches, tiny rate windows and CPUs without x86-64-v3 use
//! the row loop. The conformance tests compare both paths with per-order `validate` calls.

use super::engine::{DecisionColumns, OrderBatch, RiskEngine};

/// Batches shorter than this use the row loop (the kernel's setup would dominate).
const KERNEL_MIN_ROWS: usize = 32;

/// Orders per chunk: the chunk's inputs and prepared data (about 33 KB) stay in L1.
pub(crate) const CHUNK: usize = 512;

impl RiskEngine {
    /// Decides every row of `o` in order (see the module documentation), writing `out.reason[i]`
    /// for each row through the spare capacity of `out.reason`.
    /// Returns the number of rejected rows.
    pub(crate) fn run_batch(&mut self, o: &OrderBatch<'_>, commit: bool, out: &mut DecisionColumns) -> usize {
        let n = o.quantity.len();
        #[cfg(target_arch = "x86_64")]
        if let Some(kernel) = self.kernel_for(n) {
            return kernel.run(self, o, commit, out);
        }
        self.rows_exact(o, 0..n, commit, out)
    }
}

pub(crate) use chunked::{prepare_rows, ChunkCols, KeyParams, Prepared};

#[cfg(target_arch = "x86_64")]
mod chunked {
    use std::borrow::Cow;
    use std::mem::size_of;

    use super::super::batch_x86::Kernel;
    use super::super::engine::{DecisionColumns, OrderBatch, RiskEngine, Totals, GRID_TOLERANCE};
    use super::super::slot::Slot;
    use super::super::Mode;
    use super::{CHUNK, KERNEL_MIN_ROWS};
    use crate::order::{InstrumentColumn, OrderType};
    use crate::time::ts_in_range;

    /// Rate windows shorter than this many orders use the row loop (a chunk may not hold more
    /// orders than the window for the rate proof, and tiny chunks do not pay).
    const MIN_RATE_CHUNK: usize = 64;

    /// Keys of `CHUNK` rows that all name key 0 (a batch with one instrument for every row).
    static ZERO_KEYS: [i32; CHUNK] = [0; CHUNK];

    /// What the pre-pass needs to know about the instrument behind one key.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct KeyParams {
        /// Byte offset of the slot in the slot array.
        pub(crate) offset: u32,
        /// Largest eligible quantity: `min(max_qty, f64::MAX)` (so an eligible quantity is
        /// finite), or -1 (nothing is eligible) for an unknown or untradable instrument.
        pub(crate) max_qty: f64,
        /// Largest eligible notional: `min(max_notional, f64::MAX)` (so an eligible price is
        /// finite).
        pub(crate) max_notional: f64,
        /// Contract multiplier.
        pub(crate) multiplier: f64,
        /// Margin per contract independent of price.
        pub(crate) margin_fixed: f64,
        /// Margin per unit of price.
        pub(crate) margin_factor: f64,
        /// Inverse lot size.
        pub(crate) inv_lot: f64,
        /// Inverse tick size.
        pub(crate) inv_tick: f64,
    }

    impl KeyParams {
        /// A key without an instrument: no order is eligible.
        pub(crate) const NONE: KeyParams =
            KeyParams { offset: 0, max_qty: -1.0, max_notional: -1.0, multiplier: 1.0, margin_fixed: 0.0, margin_factor: 0.0, inv_lot: 1.0, inv_tick: 1.0 };

        /// The parameters of `slot` (`NONE` when there is no such slot).
        fn of(slots: &[Slot], slot: u32) -> KeyParams {
            let Some(s) = slots.get(slot as usize) else { return KeyParams::NONE };
            KeyParams {
                offset: slot * size_of::<Slot>() as u32,
                max_qty: if s.tradable { s.max_qty.min(f64::MAX) } else { -1.0 },
                max_notional: s.max_notional.min(f64::MAX),
                multiplier: s.multiplier(),
                margin_fixed: s.margin_fixed,
                margin_factor: s.margin_factor,
                inv_lot: s.inv_lot,
                inv_tick: s.inv_tick,
            }
        }
    }

    /// One chunk's input columns; `keys` index the batch's key table.
    pub(crate) struct ChunkCols<'a> {
        /// Row keys.
        pub(crate) keys: &'a [i32],
        /// Sides (+1 / -1, anything else invalid).
        pub(crate) side: &'a [i8],
        /// Quantities (their length is the chunk's).
        pub(crate) qty: &'a [f64],
        /// Prices.
        pub(crate) price: &'a [f64],
        /// Timestamps: one per row, or one for every row.
        pub(crate) ts: &'a [i64],
        /// Order types (0 market, 1 limit), or empty for all market orders.
        pub(crate) order_type: &'a [u8],
        /// Reduce-only flags, or empty for none.
        pub(crate) reduce_only: &'a [bool],
    }

    /// The pre-pass's output for one chunk (row `j` of the chunk at index `j`).
    pub(crate) struct Prepared {
        /// Bit `j`: row `j` passes every check that does not depend on state.
        pub(crate) eligible: [u64; CHUNK / 64],
        /// Byte offset of row `j`'s slot (meaningful for eligible rows).
        pub(crate) offset: [u32; CHUNK],
        /// `[-add_short, add_long]` of row `j`: `[-0.0, qty]` for a buy, `[-qty, 0.0]` for a sell.
        pub(crate) add: [[f64; 2]; CHUNK],
        /// `[price, margin_fixed + price * margin_factor]` of row `j`.
        pub(crate) price_unit: [[f64; 2]; CHUNK],
        /// Smallest timestamp of the chunk.
        pub(crate) ts_min: i64,
    }

    impl Prepared {
        fn boxed() -> Box<Prepared> {
            Box::new(Prepared { eligible: [0; CHUNK / 64], offset: [0; CHUNK], add: [[0.0; 2]; CHUNK], price_unit: [[0.0; 2]; CHUNK], ts_min: i64::MAX })
        }

        /// The first row in `from..to` that is not eligible, else `to`.
        fn next_ineligible(&self, from: usize, to: usize) -> usize {
            let mut w = from / 64;
            let mut bits = !self.eligible[w] & (u64::MAX << (from % 64));
            while bits == 0 {
                w += 1;
                if w * 64 >= to {
                    return to;
                }
                bits = !self.eligible[w];
            }
            (w * 64 + bits.trailing_zeros() as usize).min(to)
        }
    }

    /// The portable pre-pass (any number of keys): scalar code the compiler vectorizes where
    /// it can. `PLAIN`: no order-type or reduce-only column.
    #[inline(always)]
    pub(crate) fn prepare_rows<const PLAIN: bool>(params: &[KeyParams], c: &ChunkCols<'_>, p: &mut Prepared) {
        let m = c.qty.len();
        let on_grid = |x: f64| (x - x.round_ties_even()).abs() <= GRID_TOLERANCE;
        let ts_of = |j: usize| c.ts[if c.ts.len() == 1 { 0 } else { j }];
        p.eligible = [0; CHUNK / 64];
        let mut ts_min = i64::MAX;
        for j in 0..m {
            let k = params.get(c.keys[j] as u32 as usize).unwrap_or(&KeyParams::NONE);
            let (side, qty, price, ts) = (c.side[j], c.qty[j], c.price[j], ts_of(j));
            let buy = side == 1;
            let mut ok = (buy | (side == -1))
                & ts_in_range(ts)
                & (qty > 0.0)
                & (qty <= k.max_qty)
                & on_grid(qty * k.inv_lot)
                & (price > 0.0)
                & (qty * price * k.multiplier <= k.max_notional);
            if !PLAIN {
                let limit = c.order_type.get(j) == Some(&(OrderType::Limit as u8));
                ok &= !limit | on_grid(price * k.inv_tick);
                ok &= !c.reduce_only.get(j).copied().unwrap_or(false);
            }
            p.eligible[j / 64] |= (ok as u64) << (j % 64);
            p.offset[j] = k.offset;
            p.add[j] = if buy { [-0.0, qty] } else { [-qty, 0.0] };
            p.price_unit[j] = [price, k.margin_fixed + price * k.margin_factor];
            ts_min = ts_min.min(ts);
        }
        p.ts_min = ts_min;
    }

    /// Row keys and the key-to-slot table of a batch, whatever the instrument column's form.
    struct KeyedRows<'a> {
        /// Per-row keys, or `None` when every row has key 0.
        keys: Option<&'a [i32]>,
        table: Cow<'a, [u32]>,
    }

    impl<'a> KeyedRows<'a> {
        fn of(col: InstrumentColumn<'a>, slots: usize) -> KeyedRows<'a> {
            match col {
                InstrumentColumn::Keys(k, t) => KeyedRows { keys: Some(k), table: Cow::Borrowed(t) },
                InstrumentColumn::One(s) => KeyedRows { keys: None, table: Cow::Owned(vec![s]) },
                InstrumentColumn::Slots(s) => {
                    // SAFETY: u32 and i32 have the same size and alignment and every bit pattern
                    // is valid for both. Slots >= 2^31 become negative keys, which are outside
                    // the identity table like every other unknown slot.
                    let k = unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<i32>(), s.len()) };
                    KeyedRows { keys: Some(k), table: Cow::Owned((0..slots as u32).collect()) }
                }
            }
        }

        fn keys(&self, rows: std::ops::Range<usize>) -> &[i32] {
            match self.keys {
                Some(k) => &k[rows],
                None => &ZERO_KEYS[..rows.len()],
            }
        }
    }

    impl RiskEngine {
        /// The kernel for a batch of `n` rows, when the CPU, the mode and the limits allow it.
        pub(crate) fn kernel_for(&self, n: usize) -> Option<Kernel> {
            let cap = self.ring.capacity();
            let addressable = self.slots.len().saturating_mul(size_of::<Slot>()) <= u32::MAX as usize;
            let usable = self.mode == Mode::Active && n >= KERNEL_MIN_ROWS && (cap == 0 || cap >= MIN_RATE_CHUNK);
            if usable && addressable {
                Kernel::detect()
            } else {
                None
            }
        }

        /// The chunked kernel (see the module documentation); inlined into
        /// [`Kernel::run`]'s copies for each instruction set. Returns the number of rejected rows.
        ///
        /// # Safety
        /// The CPU supports `kernel`'s instruction sets.
        #[inline(always)]
        pub(crate) unsafe fn run_chunked(&mut self, kernel: Kernel, o: &OrderBatch<'_>, commit: bool, out: &mut DecisionColumns) -> usize {
            let n = o.quantity.len();
            let rows = KeyedRows::of(o.instrument, self.slots.len());
            let params: Vec<KeyParams> = rows.table.iter().map(|&s| KeyParams::of(&self.slots, s)).collect();
            let chunk = match self.ring.capacity() {
                0 => CHUNK,
                cap => CHUNK.min(cap),
            };
            let limits = [self.max_gross, if self.check_bp { self.equity } else { f64::INFINITY }];
            // Inside a chunk the rate limit is proved not to trip, so `explain` must not read the
            // (not yet updated) window.
            let mut gate = self.gate();
            gate.rate_full = false;
            let mut prep = Prepared::boxed();
            let single_ts = o.ts.len() == 1;
            let same_ts = if single_ts { vec![o.ts[0]; chunk] } else { Vec::new() };
            let mut accepted_ts = Vec::new();
            let mut rejections = 0;
            let mut start = 0;
            while start < n {
                let end = (start + chunk).min(n);
                let m = end - start;
                let cols = ChunkCols {
                    keys: rows.keys(start..end),
                    side: &o.side[start..end],
                    qty: &o.quantity[start..end],
                    price: &o.price[start..end],
                    ts: if single_ts { o.ts } else { &o.ts[start..end] },
                    order_type: if o.order_type.is_empty() { &[] } else { &o.order_type[start..end] },
                    reduce_only: if o.reduce_only.is_empty() { &[] } else { &o.reduce_only[start..end] },
                };
                kernel.prepare(&params, &cols, &mut prep);
                let proved = self.ring.cannot_trip(m, prep.ts_min);
                if !proved {
                    rejections += self.rows_exact(o, start..end, commit, out);
                    start = end;
                    continue;
                }
                for r in &mut out.reason.spare_capacity_mut()[start..end] {
                    r.write(0);
                }
                let mut totals = Totals { gross: self.gross, margin: self.margin };
                let mut rejected = [0u64; CHUNK / 64];
                let mut j = 0;
                while j < m {
                    let to = prep.next_ineligible(j, m);
                    j = kernel.run_eligible(&mut self.slots, &prep, j..to, &mut totals, limits, commit);
                    if j < m {
                        if !self.row_explained(&gate, &mut totals, o, start + j, commit, out) {
                            rejected[j / 64] |= 1 << (j % 64);
                        }
                        j += 1;
                    }
                }
                self.gross = totals.gross;
                self.margin = totals.margin;
                rejections += rejected.iter().map(|w| w.count_ones() as usize).sum::<usize>();
                if commit {
                    let ts = if single_ts { &same_ts[..m] } else { &o.ts[start..end] };
                    if rejected.iter().all(|&w| w == 0) {
                        self.ring.push_all(ts);
                    } else {
                        accepted_ts.clear();
                        accepted_ts.extend((0..m).filter(|&j| rejected[j / 64] & (1 << (j % 64)) == 0).map(|j| ts[j]));
                        self.ring.push_all(&accepted_ts);
                    }
                }
                start = end;
            }
            rejections
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests;
