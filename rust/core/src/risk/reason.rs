//! Decisions and their stable reason codes.

/// Why an order was rejected (or [`Reason::Accepted`]). The discriminants and the snake_case
/// codes are stable: they are stored in journals and batch outputs. Checks run in the order of
/// the discriminants and the first failing check decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Reason {
    /// Every check passed.
    Accepted = 0,
    /// The engine is HALTED (by the daily-loss or drawdown rule, or by `set_mode`);
    /// value/limit are the numbers that halted it.
    Halted = 1,
    /// The manual kill switch is engaged.
    KillSwitch = 2,
    /// The order's instrument is not known to the engine.
    UnknownInstrument = 3,
    /// The instrument cannot be traded (an index).
    NotTradable = 4,
    /// The side is neither buy (+1) nor sell (-1).
    InvalidSide = 5,
    /// The timestamp is outside 1980..2200 (ns); value is the timestamp.
    InvalidTimestamp = 6,
    /// Quantity is not positive and finite; value is the quantity.
    InvalidQuantity = 7,
    /// Quantity is not a multiple of the lot size; value/limit are quantity and lot size.
    OffLotGrid = 8,
    /// Price is not positive and finite; value is the price.
    InvalidPrice = 9,
    /// A limit price is not a multiple of the tick size; value/limit are price and tick size.
    OffTickGrid = 10,
    /// Quantity above the per-order maximum for the instrument (kind default or override).
    MaxOrderQuantity = 11,
    /// `quantity * price * multiplier` above the per-order notional maximum.
    MaxOrderNotional = 12,
    /// A reduce-only order would increase the worst-case position.
    ReduceOnly = 13,
    /// The engine is REDUCING and the order would increase the worst-case position.
    ReducingMode = 14,
    /// The worst-case position after the order exceeds the per-instrument maximum.
    MaxPosition = 15,
    /// Gross exposure after the order exceeds the portfolio maximum.
    MaxGrossExposure = 16,
    /// Margin required after the order exceeds equity (buying power).
    BuyingPower = 17,
    /// The order-rate limit is reached; value is the orders in the window, limit the maximum.
    RateLimit = 18,
    /// Sizing: the size rounds down to zero contracts; value is the unrounded size, limit the
    /// size the binding constraint allowed.
    SizeRoundsToZero = 19,
    /// Sizing: an input is unusable (stop distance, risk fraction, notional, price not positive).
    InvalidSizingInput = 20,
}

impl Reason {
    /// Every reason, in discriminant order.
    pub const ALL: [Reason; 21] = [
        Reason::Accepted,
        Reason::Halted,
        Reason::KillSwitch,
        Reason::UnknownInstrument,
        Reason::NotTradable,
        Reason::InvalidSide,
        Reason::InvalidTimestamp,
        Reason::InvalidQuantity,
        Reason::OffLotGrid,
        Reason::InvalidPrice,
        Reason::OffTickGrid,
        Reason::MaxOrderQuantity,
        Reason::MaxOrderNotional,
        Reason::ReduceOnly,
        Reason::ReducingMode,
        Reason::MaxPosition,
        Reason::MaxGrossExposure,
        Reason::BuyingPower,
        Reason::RateLimit,
        Reason::SizeRoundsToZero,
        Reason::InvalidSizingInput,
    ];

    /// The stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Accepted => "accepted",
            Reason::Halted => "halted",
            Reason::KillSwitch => "kill_switch",
            Reason::UnknownInstrument => "unknown_instrument",
            Reason::NotTradable => "not_tradable",
            Reason::InvalidSide => "invalid_side",
            Reason::InvalidTimestamp => "invalid_timestamp",
            Reason::InvalidQuantity => "invalid_quantity",
            Reason::OffLotGrid => "off_lot_grid",
            Reason::InvalidPrice => "invalid_price",
            Reason::OffTickGrid => "off_tick_grid",
            Reason::MaxOrderQuantity => "max_order_quantity",
            Reason::MaxOrderNotional => "max_order_notional",
            Reason::ReduceOnly => "reduce_only",
            Reason::ReducingMode => "reducing_mode",
            Reason::MaxPosition => "max_position",
            Reason::MaxGrossExposure => "max_gross_exposure",
            Reason::BuyingPower => "buying_power",
            Reason::RateLimit => "rate_limit",
            Reason::SizeRoundsToZero => "size_rounds_to_zero",
            Reason::InvalidSizingInput => "invalid_sizing_input",
        }
    }

    /// The reason of a discriminant.
    pub fn from_u8(v: u8) -> Option<Reason> {
        Reason::ALL.get(v as usize).copied()
    }
}

/// The outcome of a check: a reason and the numbers that tripped it (NaN when not applicable;
/// both NaN for accepted orders).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// [`Reason::Accepted`] or why not.
    pub reason: Reason,
    /// The measured value (the quantity, the notional, the position after the order ...).
    pub value: f64,
    /// The limit it was compared with.
    pub limit: f64,
}

impl Decision {
    /// An acceptance.
    pub const ACCEPT: Decision = Decision { reason: Reason::Accepted, value: f64::NAN, limit: f64::NAN };

    /// A rejection.
    #[inline(always)]
    pub fn reject(reason: Reason, value: f64, limit: f64) -> Decision {
        Decision { reason, value, limit }
    }

    /// Whether the order passed.
    #[inline(always)]
    pub fn accepted(&self) -> bool {
        self.reason == Reason::Accepted
    }

    /// A one-line human explanation.
    pub fn message(&self) -> String {
        let r = self.reason.code();
        match (self.value.is_nan(), self.limit.is_nan()) {
            _ if self.accepted() => "accepted".to_owned(),
            (true, true) => format!("rejected: {r}"),
            (false, true) => format!("rejected: {r} (value {})", self.value),
            (true, false) => format!("rejected: {r} (limit {})", self.limit),
            (false, false) => format!("rejected: {r} (value {} vs limit {})", self.value, self.limit),
        }
    }
}
