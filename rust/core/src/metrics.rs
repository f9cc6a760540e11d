//! Performance metrics of a backtest, accumulated in one pass.
//!
//! The backtester feeds every bar's equity, every closed trade and every fill into a
//! [`MetricsAccumulator`]; a parameter sweep does the same per combination without keeping any
//! per-bar series. The same accumulator computes metrics of a plain return series for the Python
//! API, so there is one implementation of every definition.
//!
//! Definitions (per-period returns `r_t = E_t / E_{t-1} - 1`, `t = 1..T`, `A` periods per year):
//!
//! * total return `E_T / E_0 - 1`; annualized return `(E_T / E_0)^(A / T) - 1`;
//! * volatility `std(r, ddof = 1) * sqrt(A)`; Sharpe `mean(r) / std(r, ddof = 1) * sqrt(A)`
//!   (risk-free rate 0; NaN when the standard deviation is 0);
//! * Sortino `mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(A)` (infinite when no return is negative
//!   and the mean is positive);
//! * max drawdown `min_t (E_t / max_{s <= t} E_s - 1)` (a negative fraction); its duration is the
//!   longest stretch from a peak until equity is back at or above it (or the end), in periods and
//!   in nanoseconds;
//! * Calmar `annualized return / |max drawdown|` (NaN without a drawdown);
//! * win rate, profit factor (gross profit / gross loss) and average net P&L of closed trades;
//! * exposure: the fraction of periods with an open position; turnover: traded notional divided
//!   by the mean equity; costs: fees plus slippage.

/// `equity / previous - 1`, or 0 after a non-positive equity (a ruined account has no return).
#[inline(always)]
pub fn period_return(previous: f64, equity: f64) -> f64 {
    if previous > 0.0 {
        equity / previous - 1.0
    } else {
        0.0
    }
}

/// Streaming accumulator of the metrics (see the module documentation).
#[derive(Debug, Clone)]
pub struct MetricsAccumulator {
    initial: f64,
    last: f64,
    periods: u64,
    sum_r: f64,
    sum_r2: f64,
    down_sq: f64,
    sum_equity: f64,
    peak: f64,
    peak_period: u64,
    peak_ts: i64,
    last_ts: i64,
    dipped: bool,
    max_dd: f64,
    max_dd_periods: u64,
    max_dd_ns: i64,
    in_market: u64,
    trades: u64,
    wins: u64,
    gross_profit: f64,
    gross_loss: f64,
    trade_pnl: f64,
    traded_notional: f64,
    fees: f64,
    slippage: f64,
}

/// The metrics of one backtest (or one return series).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// `E_T / E_0 - 1`.
    pub total_return: f64,
    /// `(E_T / E_0)^(A / T) - 1`.
    pub annualized_return: f64,
    /// Annualized standard deviation of the period returns.
    pub volatility: f64,
    /// Annualized Sharpe ratio (risk-free rate 0).
    pub sharpe: f64,
    /// Annualized Sortino ratio (target 0).
    pub sortino: f64,
    /// Annualized return over the absolute max drawdown.
    pub calmar: f64,
    /// Deepest peak-to-trough loss, as a negative fraction.
    pub max_drawdown: f64,
    /// Longest drawdown, in periods.
    pub max_drawdown_periods: u64,
    /// Longest drawdown, in nanoseconds of bar time.
    pub max_drawdown_ns: i64,
    /// Fraction of closed trades with a positive net P&L (NaN without trades).
    pub win_rate: f64,
    /// Gross profit over gross loss of closed trades.
    pub profit_factor: f64,
    /// Mean net P&L per closed trade, in account currency.
    pub average_trade: f64,
    /// Fraction of periods with an open position.
    pub exposure: f64,
    /// Traded notional over mean equity.
    pub turnover: f64,
    /// Closed trades.
    pub trades: u64,
    /// Fees paid.
    pub fees: f64,
    /// Slippage paid (against the reference price).
    pub slippage: f64,
    /// Fees plus slippage.
    pub costs: f64,
    /// Final equity.
    pub final_equity: f64,
    /// Number of return periods `T`.
    pub periods: u64,
}

impl MetricsAccumulator {
    /// Starts with equity `initial` at time `start_ts` (ns).
    pub fn new(initial: f64, start_ts: i64) -> Self {
        MetricsAccumulator {
            initial,
            last: initial,
            periods: 0,
            sum_r: 0.0,
            sum_r2: 0.0,
            down_sq: 0.0,
            sum_equity: 0.0,
            peak: initial,
            peak_period: 0,
            peak_ts: start_ts,
            last_ts: start_ts,
            dipped: false,
            max_dd: 0.0,
            max_dd_periods: 0,
            max_dd_ns: 0,
            in_market: 0,
            trades: 0,
            wins: 0,
            gross_profit: 0.0,
            gross_loss: 0.0,
            trade_pnl: 0.0,
            traded_notional: 0.0,
            fees: 0.0,
            slippage: 0.0,
        }
    }

    /// Records the equity at the end of a period (bar) at `ts`; `in_market` tells whether a
    /// position was open during it.
    #[inline]
    pub fn push_equity(&mut self, ts: i64, equity: f64, in_market: bool) {
        let r = period_return(self.last, equity);
        self.step(ts, equity, r, in_market);
    }

    /// One period with its return already computed (from the previous equity).
    #[inline(always)]
    fn step(&mut self, ts: i64, equity: f64, r: f64, in_market: bool) {
        self.last = equity;
        self.last_ts = ts;
        self.periods += 1;
        self.in_market += in_market as u64;
        self.sum_equity += equity;
        // plain sums (no division on the dependency chain): returns have a mean far below their
        // standard deviation, so the sum-of-squares variance loses no precision that matters
        self.sum_r += r;
        self.sum_r2 += r * r;
        // without a branch (the sign of a return is a coin flip); adding +0.0 changes nothing,
        // as the sum is never -0.0
        self.down_sq += if r < 0.0 { r * r } else { 0.0 };
        if equity >= self.peak {
            if self.dipped {
                self.max_dd_periods = self.max_dd_periods.max(self.periods - self.peak_period);
                self.max_dd_ns = self.max_dd_ns.max(ts - self.peak_ts);
                self.dipped = false;
            }
            self.peak = equity;
            self.peak_period = self.periods;
            self.peak_ts = ts;
        } else {
            self.dipped = true;
            // a multiplication decides whether this is a new trough; the division runs only then
            if equity < self.peak * (1.0 + self.max_dd) {
                let dd = if self.peak > 0.0 { equity / self.peak - 1.0 } else { -1.0 };
                if dd < self.max_dd {
                    self.max_dd = dd;
                }
            }
        }
    }

    /// Records a whole equity series (`ts[i]`, `equity[i]`) with the number of those periods that
    /// had an open position: the same arithmetic as [`MetricsAccumulator::push_equity`] per
    /// element, run on a local copy so the state stays in registers.
    pub fn push_equity_series(&mut self, ts: &[i64], equity: &[f64], in_market_periods: u64) {
        let n = ts.len().min(equity.len());
        self.push_equity_with(&ts[..n], |k| equity[k], in_market_periods);
    }

    /// [`MetricsAccumulator::push_equity_series`] with the equity of period `k` (`0..ts.len()`)
    /// given by `equity(k)`, which is called twice per period and must return the same value
    /// both times (the backtester computes it from the close instead of storing it).
    #[inline(always)]
    pub fn push_equity_with(&mut self, ts: &[i64], equity: impl Fn(usize) -> f64, in_market_periods: u64) {
        const CHUNK: usize = 64;
        let n = ts.len();
        let mut a = self.clone();
        let mut r = [0.0f64; CHUNK];
        let mut start = 0;
        while start < n {
            let end = (start + CHUNK).min(n);
            // the chunk's returns first: independent divisions the CPU pipelines (and vectorizes)
            let mut prev = if start == 0 { a.last } else { equity(start - 1) };
            for (k, slot) in r[..end - start].iter_mut().enumerate() {
                let e = equity(start + k);
                *slot = period_return(prev, e);
                prev = e;
            }
            for k in 0..end - start {
                a.step(ts[start + k], equity(start + k), r[k], false);
            }
            start = end;
        }
        a.in_market += in_market_periods;
        *self = a;
    }

    /// Records `ts.len()` periods of the same `equity` (with no open position): the same result
    /// as [`MetricsAccumulator::push_equity`] per period, in constant time after the first when
    /// `equity` is positive and finite. From the second period on, the return is exactly 0
    /// (`e / e - 1`), which leaves the return sums unchanged (they are never `-0.0`), and the
    /// drawdown state cannot change: at or above the peak, each period is the new peak; below
    /// it, the drawdown is the one the first period already measured. Only the equity sum is
    /// still added period by period (so its rounding is the per-period one).
    pub fn push_flat(&mut self, ts: &[i64], equity: f64) {
        let Some((&first, rest)) = ts.split_first() else {
            return;
        };
        self.push_equity(first, equity, false);
        let Some(&last_ts) = rest.last() else {
            return;
        };
        if !(equity.is_finite() && equity > 0.0) {
            for &t in rest {
                self.push_equity(t, equity, false);
            }
            return;
        }
        let mut sum = self.sum_equity;
        for _ in rest {
            sum += equity;
        }
        self.sum_equity = sum;
        self.last = equity;
        self.last_ts = last_ts;
        self.periods += rest.len() as u64;
        if !self.dipped {
            self.peak_period = self.periods;
            self.peak_ts = last_ts;
        }
    }

    /// Records one period's return (for metrics of a plain return series).
    #[inline]
    pub fn push_return(&mut self, ts: i64, r: f64, in_market: bool) {
        let equity = self.last * (1.0 + r);
        self.push_equity(ts, equity, in_market);
    }

    /// Records a closed trade's net P&L (after fees and slippage).
    #[inline]
    pub fn push_trade(&mut self, pnl: f64) {
        self.trades += 1;
        self.trade_pnl += pnl;
        if pnl > 0.0 {
            self.wins += 1;
            self.gross_profit += pnl;
        } else {
            self.gross_loss -= pnl;
        }
    }

    /// Records a fill's absolute notional and its costs.
    #[inline]
    pub fn push_fill(&mut self, notional: f64, fees: f64, slippage: f64) {
        self.traded_notional += notional.abs();
        self.fees += fees;
        self.slippage += slippage;
    }

    /// The metrics so far, annualized with `periods_per_year`.
    pub fn finish(&self, periods_per_year: f64) -> Metrics {
        let t = self.periods as f64;
        let growth = if self.initial > 0.0 { self.last / self.initial } else { f64::NAN };
        let total_return = growth - 1.0;
        let annualized_return = if self.periods == 0 {
            f64::NAN
        } else if growth <= 0.0 {
            -1.0
        } else {
            growth.powf(periods_per_year / t) - 1.0
        };
        let mean = if self.periods > 0 { self.sum_r / t } else { f64::NAN };
        let var = if self.periods > 1 { ((self.sum_r2 - self.sum_r * mean) / (t - 1.0)).max(0.0) } else { f64::NAN };
        let std = var.sqrt();
        let sqrt_a = periods_per_year.sqrt();
        let sharpe = if std > 0.0 { mean / std * sqrt_a } else { f64::NAN };
        let down = if self.periods > 0 { (self.down_sq / t).sqrt() } else { f64::NAN };
        let sortino = if down > 0.0 {
            mean / down * sqrt_a
        } else if self.periods > 0 && mean > 0.0 {
            f64::INFINITY
        } else {
            f64::NAN
        };
        let calmar = if self.max_dd < 0.0 { annualized_return / -self.max_dd } else { f64::NAN };
        // a drawdown still open at the end counts up to the last period
        let open_periods = self.periods - self.peak_period;
        let open_ns = self.last_ts - self.peak_ts;
        let (max_dd_periods, max_dd_ns) =
            if self.dipped { (self.max_dd_periods.max(open_periods), self.max_dd_ns.max(open_ns)) } else { (self.max_dd_periods, self.max_dd_ns) };
        let trades = self.trades as f64;
        let mean_equity = if self.periods > 0 { self.sum_equity / t } else { self.initial };
        Metrics {
            total_return,
            annualized_return,
            volatility: std * sqrt_a,
            sharpe,
            sortino,
            calmar,
            max_drawdown: self.max_dd,
            max_drawdown_periods: max_dd_periods,
            max_drawdown_ns: max_dd_ns,
            win_rate: if self.trades > 0 { self.wins as f64 / trades } else { f64::NAN },
            profit_factor: if self.gross_loss > 0.0 {
                self.gross_profit / self.gross_loss
            } else if self.gross_profit > 0.0 {
                f64::INFINITY
            } else {
                f64::NAN
            },
            average_trade: if self.trades > 0 { self.trade_pnl / trades } else { f64::NAN },
            exposure: if self.periods > 0 { self.in_market as f64 / t } else { 0.0 },
            turnover: if mean_equity > 0.0 { self.traded_notional / mean_equity } else { f64::NAN },
            trades: self.trades,
            fees: self.fees,
            slippage: self.slippage,
            costs: self.fees + self.slippage,
            final_equity: self.last,
            periods: self.periods,
        }
    }
}

impl Metrics {
    /// Metric names in the order of [`Metrics::values`].
    pub const NAMES: [&'static str; 20] = [
        "total_return",
        "annualized_return",
        "volatility",
        "sharpe",
        "sortino",
        "calmar",
        "max_drawdown",
        "max_drawdown_periods",
        "max_drawdown_ns",
        "win_rate",
        "profit_factor",
        "average_trade",
        "exposure",
        "turnover",
        "trades",
        "fees",
        "slippage",
        "costs",
        "final_equity",
        "periods",
    ];

    /// Every metric as `f64`, in the order of [`Metrics::NAMES`].
    pub fn values(&self) -> [f64; 20] {
        [
            self.total_return,
            self.annualized_return,
            self.volatility,
            self.sharpe,
            self.sortino,
            self.calmar,
            self.max_drawdown,
            self.max_drawdown_periods as f64,
            self.max_drawdown_ns as f64,
            self.win_rate,
            self.profit_factor,
            self.average_trade,
            self.exposure,
            self.turnover,
            self.trades as f64,
            self.fees,
            self.slippage,
            self.costs,
            self.final_equity,
            self.periods as f64,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-checked example of `docs/backtest.md`: equity 100 -> 110 -> 99 -> 108.9 -> 118.8,
    /// returns +10 %, -10 %, +10 %, +9.0909 %.
    #[test]
    fn hand_checked_example() {
        let mut acc = MetricsAccumulator::new(100.0, 0);
        for (i, e) in [110.0, 99.0, 108.9, 118.8].iter().enumerate() {
            acc.push_equity(i as i64 + 1, *e, i != 1);
        }
        acc.push_trade(10.0);
        acc.push_trade(-11.0);
        acc.push_trade(19.8);
        acc.push_fill(200.0, 1.0, 0.5);
        let m = acc.finish(4.0);
        let r = [0.1, -0.1, 0.1, 118.8 / 108.9 - 1.0];
        let mean = r.iter().sum::<f64>() / 4.0;
        let var = r.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 3.0;
        assert!((m.total_return - 0.188).abs() < 1e-12);
        assert!((m.annualized_return - 0.188).abs() < 1e-12); // 4 periods of 4 per year
        assert!((m.sharpe - mean / var.sqrt() * 2.0).abs() < 1e-12);
        assert!((m.sortino - mean / (0.01f64 / 4.0).sqrt() * 2.0).abs() < 1e-12);
        assert!((m.max_drawdown - (-0.1)).abs() < 1e-12);
        assert_eq!(m.max_drawdown_periods, 3); // peak at period 1, back above it at period 4
        assert_eq!(m.max_drawdown_ns, 3);
        assert!((m.calmar - 1.88).abs() < 1e-12);
        assert!((m.win_rate - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.profit_factor - 29.8 / 11.0).abs() < 1e-12);
        assert!((m.average_trade - 18.8 / 3.0).abs() < 1e-12);
        assert_eq!(m.exposure, 0.75);
        assert!((m.turnover - 200.0 / ((110.0 + 99.0 + 108.9 + 118.8) / 4.0)).abs() < 1e-12);
        assert_eq!(m.costs, 1.5);
        assert_eq!(m.trades, 3);
    }

    #[test]
    fn open_drawdown_counts_to_the_end_and_flat_equity_has_no_ratios() {
        let mut acc = MetricsAccumulator::new(100.0, 0);
        for (i, e) in [101.0, 95.0, 96.0, 97.0].iter().enumerate() {
            acc.push_equity((i as i64 + 1) * 10, *e, true);
        }
        let m = acc.finish(252.0);
        assert_eq!(m.max_drawdown_periods, 3);
        assert_eq!(m.max_drawdown_ns, 30);
        let mut flat = MetricsAccumulator::new(100.0, 0);
        for i in 0..5 {
            flat.push_equity(i, 100.0, false);
        }
        let f = flat.finish(252.0);
        assert!(f.sharpe.is_nan() && f.sortino.is_nan() && f.calmar.is_nan() && f.win_rate.is_nan());
        assert_eq!(f.total_return, 0.0);
        assert_eq!(f.max_drawdown, 0.0);
    }
}
