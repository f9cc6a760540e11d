//! The rules a strategy hands the stepper: signal bits, exit distances, sizing, and why a fill
//! happened.

/// Signal bit: enter long.
pub const ENTRY_LONG: u8 = 1;
/// Signal bit: exit long.
pub const EXIT_LONG: u8 = 2;
/// Signal bit: enter short.
pub const ENTRY_SHORT: u8 = 4;
/// Signal bit: exit short.
pub const EXIT_SHORT: u8 = 8;

/// What the strategy says at the close of one bar of one instrument: its signal bits and, for
/// [`Exit::Series`] rules, the stop-loss and take-profit distances of that bar (NaN otherwise).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarSignal {
    /// Signal bits ([`ENTRY_LONG`], [`EXIT_LONG`], [`ENTRY_SHORT`], [`EXIT_SHORT`]).
    pub bits: u8,
    /// Stop-loss distance (price units) for [`Exit::Series`]; NaN when there is none.
    pub stop_distance: f64,
    /// Take-profit distance for [`Exit::Series`]; NaN when there is none.
    pub take_distance: f64,
}

impl BarSignal {
    /// Signal bits without distance series.
    #[inline(always)]
    pub fn bits(bits: u8) -> Self {
        BarSignal { bits, stop_distance: f64::NAN, take_distance: f64::NAN }
    }
}

/// A stop-loss or take-profit distance rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exit {
    /// No such exit.
    None,
    /// A fraction of the entry price.
    Percent(f64),
    /// Price units.
    Points(f64),
    /// The per-bar distance series of the signal bar (e.g. `mult * ATR`).
    Series,
}

/// The entry size rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sizing {
    /// A fixed quantity.
    Fixed(f64),
    /// A target notional.
    Notional(f64),
    /// A target notional of this fraction of equity.
    EquityFraction(f64),
    /// Risk this fraction of equity between entry and stop.
    RiskFraction(f64),
}

/// Exit and sizing rules of one combination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// Stop-loss distance.
    pub stop: Exit,
    /// Take-profit distance.
    pub take: Exit,
    /// Bars in a position before a time exit (0: none).
    pub time_stop: u32,
    /// Entry size rule.
    pub sizing: Sizing,
    /// Take short entries.
    pub allow_short: bool,
    /// Close open positions at the end of the data.
    pub close_at_end: bool,
}

/// Why a fill happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FillReason {
    /// An entry rule.
    Entry = 0,
    /// An exit rule (or an opposite entry rule).
    Signal = 1,
    /// The stop-loss.
    StopLoss = 2,
    /// The take-profit.
    TakeProfit = 3,
    /// The time stop.
    TimeStop = 4,
    /// The end of the data.
    End = 5,
}

impl FillReason {
    /// Every reason, by discriminant.
    pub const ALL: [FillReason; 6] =
        [FillReason::Entry, FillReason::Signal, FillReason::StopLoss, FillReason::TakeProfit, FillReason::TimeStop, FillReason::End];

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            FillReason::Entry => "entry",
            FillReason::Signal => "signal",
            FillReason::StopLoss => "stop_loss",
            FillReason::TakeProfit => "take_profit",
            FillReason::TimeStop => "time_stop",
            FillReason::End => "end",
        }
    }
}
