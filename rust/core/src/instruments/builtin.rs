//! Built-in specs of the common US contracts. Overrides (a TOML/JSON file, or `register`) take
//! precedence over these. Prices are in the exchange's quote units; the multiplier converts one
//! point of that price on one contract into USD.

/// A futures product: root, multiplier (USD per point), tick size (points), description.
pub struct FutureSpec {
    /// Product root.
    pub root: &'static str,
    /// USD per one point of price per contract.
    pub multiplier: f64,
    /// Minimum price increment in points.
    pub tick_size: f64,
    /// What the product is (and its quote unit when not obvious).
    pub description: &'static str,
}

const fn fut(root: &'static str, multiplier: f64, tick_size: f64, description: &'static str) -> FutureSpec {
    FutureSpec { root, multiplier, tick_size, description }
}

/// US futures products (CME Group and CFE).
pub const FUTURES: &[FutureSpec] = &[
    fut("ES", 50.0, 0.25, "E-mini S&P 500"),
    fut("MES", 5.0, 0.25, "Micro E-mini S&P 500"),
    fut("NQ", 20.0, 0.25, "E-mini Nasdaq-100"),
    fut("MNQ", 2.0, 0.25, "Micro E-mini Nasdaq-100"),
    fut("RTY", 50.0, 0.1, "E-mini Russell 2000"),
    fut("M2K", 5.0, 0.1, "Micro E-mini Russell 2000"),
    fut("YM", 5.0, 1.0, "E-mini Dow ($5)"),
    fut("MYM", 0.5, 1.0, "Micro E-mini Dow"),
    fut("EMD", 100.0, 0.1, "E-mini S&P MidCap 400"),
    fut("CL", 1000.0, 0.01, "WTI crude oil (USD/bbl, 1,000 bbl)"),
    fut("MCL", 100.0, 0.01, "Micro WTI crude oil"),
    fut("QM", 500.0, 0.025, "E-mini crude oil"),
    fut("NG", 10_000.0, 0.001, "Henry Hub natural gas (USD/MMBtu)"),
    fut("RB", 42_000.0, 0.0001, "RBOB gasoline (USD/gal)"),
    fut("HO", 42_000.0, 0.0001, "NY Harbor ULSD (USD/gal)"),
    fut("GC", 100.0, 0.1, "Gold (USD/oz, 100 oz)"),
    fut("MGC", 10.0, 0.1, "Micro gold"),
    fut("SI", 5000.0, 0.005, "Silver (USD/oz, 5,000 oz)"),
    fut("SIL", 1000.0, 0.005, "Micro silver"),
    fut("HG", 25_000.0, 0.0005, "Copper (USD/lb)"),
    fut("PL", 50.0, 0.1, "Platinum"),
    fut("ZT", 2000.0, 1.0 / 256.0, "2-year T-note (points; tick 1/8 of 1/32)"),
    fut("ZF", 1000.0, 1.0 / 128.0, "5-year T-note (points; tick 1/4 of 1/32)"),
    fut("ZN", 1000.0, 1.0 / 64.0, "10-year T-note (points; tick 1/2 of 1/32)"),
    fut("TN", 1000.0, 1.0 / 64.0, "Ultra 10-year T-note"),
    fut("ZB", 1000.0, 1.0 / 32.0, "30-year T-bond (points; tick 1/32)"),
    fut("UB", 1000.0, 1.0 / 32.0, "Ultra T-bond"),
    fut("SR3", 2500.0, 0.0025, "Three-month SOFR"),
    fut("VX", 1000.0, 0.05, "Cboe VIX futures"),
    fut("VXM", 100.0, 0.05, "Mini VIX futures"),
    fut("6E", 125_000.0, 0.00005, "Euro FX"),
    fut("6J", 12_500_000.0, 0.0000005, "Japanese yen"),
    fut("6B", 62_500.0, 0.0001, "British pound"),
    fut("6A", 100_000.0, 0.00005, "Australian dollar"),
    fut("6C", 100_000.0, 0.00005, "Canadian dollar"),
    fut("6S", 125_000.0, 0.00005, "Swiss franc"),
    fut("ZC", 50.0, 0.25, "Corn (US cents/bu, 5,000 bu)"),
    fut("ZS", 50.0, 0.25, "Soybeans (US cents/bu)"),
    fut("ZW", 50.0, 0.25, "Chicago wheat (US cents/bu)"),
    fut("ZL", 600.0, 0.01, "Soybean oil (US cents/lb)"),
    fut("ZM", 100.0, 0.1, "Soybean meal (USD/short ton)"),
    fut("LE", 400.0, 0.025, "Live cattle (US cents/lb)"),
    fut("HE", 400.0, 0.025, "Lean hogs (US cents/lb)"),
    fut("BTC", 5.0, 5.0, "Bitcoin (5 BTC)"),
    fut("MBT", 0.1, 5.0, "Micro Bitcoin (0.1 BTC)"),
    fut("ETH", 50.0, 0.5, "Ether (50 ETH)"),
];

/// Cash indexes (priced, not tradable): symbol, description.
pub const INDEXES: &[(&str, &str)] = &[
    ("SPX", "S&P 500"),
    ("XSP", "Mini-SPX (SPX / 10)"),
    ("NDX", "Nasdaq-100"),
    ("RUT", "Russell 2000"),
    ("VIX", "Cboe Volatility Index"),
    ("DJX", "Dow Jones Industrial Average / 100"),
    ("OEX", "S&P 100"),
    ("XEO", "S&P 100 (European)"),
];

/// Index option roots and their underlying index, with the option tick size.
pub const INDEX_OPTION_ROOTS: &[(&str, &str, f64)] = &[
    ("SPX", "SPX", 0.05),
    ("SPXW", "SPX", 0.05),
    ("SPXPM", "SPX", 0.05),
    ("XSP", "XSP", 0.01),
    ("NDX", "NDX", 0.05),
    ("NDXP", "NDX", 0.05),
    ("RUT", "RUT", 0.05),
    ("RUTW", "RUT", 0.05),
    ("VIX", "VIX", 0.05),
    ("VIXW", "VIX", 0.05),
    ("DJX", "DJX", 0.05),
    ("OEX", "OEX", 0.05),
    ("XEO", "XEO", 0.05),
];

/// Standard listed equity and index options: 100 units of the underlying per contract.
pub const OPTION_MULTIPLIER: f64 = 100.0;

/// Default option tick size (penny increments; classes quoted in nickels can override it).
pub const OPTION_TICK: f64 = 0.01;

/// Common US stocks and ETFs known out of the box (x1, tick $0.01). Other tickers must be
/// registered (or the registry told to accept unlisted equities) so a typo never becomes an
/// order of the wrong size.
pub const EQUITIES: &[&str] = &[
    "SPY", "QQQ", "IWM", "DIA", "VOO", "VTI", "TLT", "IEF", "SHY", "GLD", "SLV", "USO", "UNG", "XLF", "XLE", "XLK", "XLV", "XLI", "XLY", "XLP", "XLU", "XLB",
    "XLRE", "XLC", "SMH", "SOXX", "EEM", "EFA", "FXI", "HYG", "LQD", "VXX", "UVXY", "SVXY", "TQQQ", "SQQQ", "SPXL", "SPXS", "ARKK", "KRE", "XBI", "GDX",
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "GOOG", "META", "TSLA", "BRK.B", "AVGO", "AMD", "NFLX", "JPM", "V", "MA", "UNH", "JNJ", "XOM", "CVX", "WMT", "PG",
    "HD", "COST", "BAC", "WFC", "C", "GS", "MS", "KO", "PEP", "ORCL", "CRM", "ADBE", "INTC", "CSCO", "DIS", "MU", "QCOM", "TXN", "IBM", "PLTR", "COIN", "MSTR",
    "BA", "PFE", "MRK", "ABBV", "LLY", "T", "VZ", "NKE", "SBUX", "MCD", "UBER", "ABNB", "SHOP", "SNOW", "SMCI", "ARM", "TSM", "BABA", "PYPL", "SQ", "HOOD",
    "SOFI", "F", "GM", "RIVN", "LCID", "NIO", "CAT", "DE", "GE", "LMT", "RTX",
];
